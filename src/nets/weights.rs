//! Loading published checkpoints (`.safetensors` or PyTorch `.pth` state dicts) by their PyTorch
//! names. Before loading, the file's tensors are compared with the names and shapes the network
//! asks for, so a wrong checkpoint or wrong options give one clear error (tensor, expected and
//! found shape) instead of Candle's first failure deep inside a constructor.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use crate::{Error, Result};

/// Tensors that may be absent from older checkpoints without changing the network's output.
fn is_optional(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

/// A backend that records every tensor a constructor asks for and hands back zero-cost
/// broadcast zeros, so the expected layout is known without allocating the weights.
#[derive(Default)]
struct LayoutRecorder {
    requested: Mutex<Vec<(String, Vec<usize>)>>,
}

impl SimpleBackend for LayoutRecorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Ok(mut requested) = self.requested.lock() {
            requested.push((name.to_string(), s.dims().to_vec()));
        }
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("layout recorder cannot serve `{name}` without a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// The (name, shape) of every tensor `build` requests, in request order.
pub fn expected_layout<T, E: Into<Error>>(
    build: impl FnOnce(VarBuilder) -> std::result::Result<T, E>,
) -> Result<Vec<(String, Vec<usize>)>> {
    let recorder = std::sync::Arc::new(LayoutRecorder::default());
    let backend: Box<dyn SimpleBackend> = Box::new(SharedRecorder(recorder.clone()));
    build(VarBuilder::from_backend(backend, DType::F32, Device::Cpu)).map_err(Into::into)?;
    let requested = recorder
        .requested
        .lock()
        .map_err(|_| Error::msg("layout recorder lock poisoned"))?;
    Ok(requested.clone())
}

struct SharedRecorder(std::sync::Arc<LayoutRecorder>);

impl SimpleBackend for SharedRecorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0.get(s, name, h, dtype, dev)
    }
    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0.get_unchecked(name, dtype, dev)
    }
    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains_tensor(name)
    }
}

/// Every tensor of a `.safetensors` or `.pth` file (chosen by extension; `.pth` in the zip or
/// the legacy format), on the CPU.
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let weights_error = |e: candle_core::Error| Error::Weights {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let is_pth = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pth" | "pt" | "ckpt" | "bin")
    );
    if is_pth {
        // Checkpoints from PyTorch before 1.6 (the published SPADE/pix2pixHD ones) are not zips.
        if super::legacy_pth::is_legacy_pth(path)? {
            return super::legacy_pth::read_legacy_pth(path);
        }
        return read_zip_pth(path);
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(weights_error)
}

/// Deflate expands at most about 1032 times; a zip entry that claims more than this many
/// bytes per compressed byte is crafted, not a checkpoint.
const MAX_DEFLATE_RATIO: u64 = 1100;

/// Every tensor of a zip-format `.pth` (PyTorch 1.6 and later). Candle reads the tensors, but
/// only after each one's shape is checked against the bytes its zip entry really holds: the
/// shapes come from the file's pickle, and a crafted one would otherwise ask for terabytes.
fn read_zip_pth(path: &Path) -> Result<HashMap<String, Tensor>> {
    let fail = |message: String| Error::Weights {
        path: path.to_path_buf(),
        message: format!("PyTorch checkpoint: {message}"),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| fail(format!("not a readable zip archive: {e}")))?;
    check_zip_pickles(&mut zip).map_err(fail)?;
    let pth = candle_core::pickle::PthTensors::new(path, None).map_err(|e| fail(e.to_string()))?;
    let mut tensors = HashMap::new();
    for (name, info) in pth.tensor_infos() {
        let entry = zip
            .by_name(&info.path)
            .map_err(|e| fail(format!("{name}: storage {}: {e}", info.path)))?;
        let (stored, compressed) = (entry.size(), entry.compressed_size());
        drop(entry);
        let element_bytes = info.dtype.size_in_bytes();
        let needed = super::legacy_pth::checked_elements(info.layout.dims())
            .and_then(|n| n.checked_add(info.layout.start_offset()))
            .and_then(|n| n.checked_mul(element_bytes));
        let plausible = stored <= compressed.saturating_mul(MAX_DEFLATE_RATIO);
        match needed {
            Some(needed) if needed as u64 <= stored && plausible => {}
            _ => {
                return Err(fail(format!(
                    "{name}: shape {:?} needs {} bytes, but its storage {} holds {stored} \
                     ({compressed} compressed)",
                    info.layout.dims(),
                    needed.map_or("more than addressable".to_string(), |n| n.to_string()),
                    info.path
                )))
            }
        }
        let tensor = pth
            .get(name)
            .map_err(|e| fail(format!("{name}: {e}")))?
            .ok_or_else(|| fail(format!("{name}: listed but not readable")))?;
        tensors.insert(name.clone(), tensor);
    }
    Ok(tensors)
}

/// Every `data.pkl` of a zip checkpoint, scanned before Candle parses it: the lengths its
/// pickle declares must fit in the entry, and the entry's size in what it was compressed from.
fn check_zip_pickles<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
) -> std::result::Result<(), String> {
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| n.ends_with("data.pkl"))
        .collect();
    for name in names {
        let entry = zip.by_name(&name).map_err(|e| format!("{name}: {e}"))?;
        let (stored, compressed) = (entry.size(), entry.compressed_size());
        if stored > compressed.saturating_mul(MAX_DEFLATE_RATIO) {
            return Err(format!(
                "{name} claims {stored} bytes from {compressed} compressed"
            ));
        }
        super::pickle_scan::check_lengths(&mut std::io::BufReader::new(entry), stored)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Compares a file's tensors with a network's expected layout: every expected tensor present
/// (except optional bookkeeping) with the expected shape, and no tensor left unused.
pub fn check_layout(
    path: &Path,
    expected: &[(String, Vec<usize>)],
    found: &HashMap<String, Tensor>,
) -> Result<()> {
    let missing: Vec<&(String, Vec<usize>)> = expected
        .iter()
        .filter(|(name, _)| !found.contains_key(name) && !is_optional(name))
        .collect();
    if let Some((name, shape)) = missing.first() {
        return Err(Error::MissingTensor {
            path: path.to_path_buf(),
            name: name.clone(),
            expected: shape.clone(),
            missing_count: missing.len(),
        });
    }
    for (name, shape) in expected {
        if let Some(tensor) = found.get(name) {
            if tensor.dims() != shape.as_slice() {
                return Err(Error::TensorShape {
                    path: path.to_path_buf(),
                    name: name.clone(),
                    expected: shape.clone(),
                    found: tensor.dims().to_vec(),
                });
            }
        }
    }
    let expected_names: BTreeMap<&str, ()> =
        expected.iter().map(|(n, _)| (n.as_str(), ())).collect();
    let mut unexpected: Vec<&String> = found
        .keys()
        .filter(|n| !expected_names.contains_key(n.as_str()))
        .collect();
    unexpected.sort();
    if let Some(first) = unexpected.first() {
        return Err(Error::UnexpectedTensors {
            path: path.to_path_buf(),
            count: unexpected.len(),
            first: (*first).clone(),
        });
    }
    Ok(())
}

/// Builds a network from a checkpoint file, read-only (for inference), after checking that the
/// file holds exactly the tensors the network needs.
pub fn load_checked<T, E: Into<Error>>(
    path: &Path,
    device: &Device,
    build: impl Fn(VarBuilder) -> std::result::Result<T, E>,
) -> Result<T> {
    let tensors = read_tensors(path)?;
    load_from_tensors(path, tensors, device, build)
}

/// As [`load_checked`], from tensors already read (`path` names their source in errors).
pub fn load_from_tensors<T, E: Into<Error>>(
    path: &Path,
    tensors: HashMap<String, Tensor>,
    device: &Device,
    build: impl Fn(VarBuilder) -> std::result::Result<T, E>,
) -> Result<T> {
    let expected = expected_layout(&build)?;
    check_layout(path, &expected, &tensors)?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    build(vb).map_err(|e| match e.into() {
        Error::Candle(e) => Error::Weights {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
        other => other,
    })
}

/// Names of the trainable parameters among `names` (everything but running statistics and
/// spectral-norm vectors).
pub fn trainable_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
    names
        .into_iter()
        .filter(|n| !super::layers::is_buffer_name(n))
        .collect()
}
