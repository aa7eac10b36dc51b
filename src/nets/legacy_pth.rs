//! PyTorch's legacy (pre-1.6, non-zip) `torch.save` format, which the published SPADE and
//! pix2pixHD checkpoints were written in. Candle reads only the zip format. Layout, after
//! `torch/serialization.py` `_legacy_save`: five things back to back: a pickle of the magic
//! number, a pickle of the protocol version (1001), a pickle of `sys_info`, the pickled object
//! (tensors refer to storages by persistent id `('storage', type, key, location, numel, view)`),
//! a pickle of the list of storage keys, then each storage in that order as an int64 element
//! count followed by its raw little-endian elements.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// `pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)`: the legacy format's first bytes.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

/// PyTorch's legacy protocol version.
const LEGACY_PROTOCOL: i64 = 1001;

/// True when `path` starts like a legacy `torch.save` file.
pub fn is_legacy_pth(path: &Path) -> Result<bool> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; LEGACY_MAGIC.len()];
    match file.read_exact(&mut head) {
        Ok(()) => Ok(head == LEGACY_MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Every tensor of a legacy `.pth` state dict, on the CPU, by its PyTorch name.
pub fn read_legacy_pth(path: &Path) -> Result<HashMap<String, Tensor>> {
    let fail = |message: String| Error::Weights {
        path: path.to_path_buf(),
        message: format!("legacy PyTorch checkpoint: {message}"),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_bytes = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; LEGACY_MAGIC.len()];
    reader
        .read_exact(&mut magic)
        .map_err(|e| Error::io(path, e))?;
    if magic != LEGACY_MAGIC {
        return Err(fail(
            "the file does not start with the legacy magic number".into(),
        ));
    }
    let protocol = read_checked_pickle(&mut reader, path, file_bytes)
        .map_err(fail)?
        .int_or_long()
        .map_err(|found| fail(format!("protocol version is {found:?}")))?;
    if protocol != LEGACY_PROTOCOL {
        return Err(fail(format!(
            "protocol version {protocol}, expected {LEGACY_PROTOCOL}"
        )));
    }
    let _sys_info = read_checked_pickle(&mut reader, path, file_bytes).map_err(fail)?;
    let state_dict = read_checked_pickle(&mut reader, path, file_bytes).map_err(fail)?;
    let keys: Vec<String> =
        match read_checked_pickle(&mut reader, path, file_bytes).map_err(fail)? {
            Object::List(keys) => keys
                .into_iter()
                .map(|key| {
                    key.unicode()
                        .map_err(|k| fail(format!("storage key {k:?}")))
                })
                .collect::<Result<_>>()?,
            other => return Err(fail(format!("storage key list is {other:?}"))),
        };
    let infos = tensor_infos(state_dict).map_err(fail)?;
    let position = reader.stream_position().map_err(|e| Error::io(path, e))?;
    let storages = read_storages(
        &mut reader,
        file_bytes.saturating_sub(position),
        &keys,
        &infos,
    )
    .map_err(fail)?;
    infos
        .into_iter()
        .map(|info| {
            let tensor = tensor_from_storage(&info, &storages).map_err(fail)?;
            Ok((info.name, tensor))
        })
        .collect()
}

/// [`read_pickle`] after [`super::pickle_scan::check_lengths`] has checked, on a second handle
/// at the same position, every length the pickle declares against the rest of the file.
fn read_checked_pickle(
    reader: &mut BufReader<std::fs::File>,
    path: &Path,
    file_bytes: u64,
) -> std::result::Result<Object, String> {
    let position = reader.stream_position().map_err(|e| e.to_string())?;
    let mut scan = std::fs::File::open(path).map_err(|e| e.to_string())?;
    scan.seek(std::io::SeekFrom::Start(position))
        .map_err(|e| e.to_string())?;
    super::pickle_scan::check_lengths(
        &mut BufReader::new(scan),
        file_bytes.saturating_sub(position),
    )?;
    read_pickle(reader)
}

fn read_pickle<R: BufRead>(reader: &mut R) -> std::result::Result<Object, String> {
    let mut stack = Stack::empty();
    stack.read_loop(reader).map_err(|e| e.to_string())?;
    stack.finalize().map_err(|e| e.to_string())
}

/// The tensors of the state dict, with their storage key as `path`.
fn tensor_infos(
    state_dict: Object,
) -> std::result::Result<Vec<candle_core::pickle::TensorInfo>, String> {
    // An OrderedDict with `_metadata` arrives as BUILD(dict, state).
    let entries = match state_dict {
        Object::Dict(entries) => entries,
        Object::Build { callable, .. } => match *callable {
            Object::Dict(entries) => entries,
            other => return Err(format!("expected a state dict, found {other:?}")),
        },
        other => return Err(format!("expected a state dict, found {other:?}")),
    };
    let mut infos = Vec::new();
    for (name, value) in entries {
        let shown = format!("{name:?}");
        match value.into_tensor_info(name, Path::new("")) {
            Ok(Some(mut info)) => {
                info.path = info.path.trim_start_matches('/').to_string();
                infos.push(info);
            }
            Ok(None) => {}
            Err(e) => return Err(format!("entry {shown}: {e}")),
        }
    }
    Ok(infos)
}

/// Reads the storages that follow the key list; each key's bytes. Every element count is
/// checked against the `remaining_bytes` the file really has before anything is allocated: the
/// counts come from the file, and a crafted one would otherwise ask for terabytes.
fn read_storages<R: Read>(
    reader: &mut R,
    mut remaining_bytes: u64,
    keys: &[String],
    infos: &[candle_core::pickle::TensorInfo],
) -> std::result::Result<HashMap<String, Vec<u8>>, String> {
    let element_bytes: HashMap<&str, usize> = infos
        .iter()
        .map(|info| (info.path.as_str(), info.dtype.size_in_bytes()))
        .collect();
    let mut storages = HashMap::new();
    for key in keys {
        let mut count = [0u8; 8];
        reader
            .read_exact(&mut count)
            .map_err(|e| format!("storage {key}: {e}"))?;
        remaining_bytes = remaining_bytes.saturating_sub(count.len() as u64);
        let elements = u64::from_le_bytes(count);
        let size = element_bytes
            .get(key.as_str())
            .ok_or_else(|| format!("storage {key} is used by no tensor"))?;
        let needed = elements
            .checked_mul(*size as u64)
            .filter(|needed| *needed <= remaining_bytes)
            .ok_or_else(|| {
                format!(
                    "storage {key} claims {elements} elements of {size} bytes, but only \
                     {remaining_bytes} bytes of the file are left (truncated or not a checkpoint)"
                )
            })?;
        remaining_bytes -= needed;
        let mut bytes = vec![0u8; needed as usize];
        reader
            .read_exact(&mut bytes)
            .map_err(|e| format!("storage {key} ({elements} elements): {e}"))?;
        storages.insert(key.clone(), bytes);
    }
    Ok(storages)
}

fn tensor_from_storage(
    info: &candle_core::pickle::TensorInfo,
    storages: &HashMap<String, Vec<u8>>,
) -> std::result::Result<Tensor, String> {
    let bytes = storages
        .get(&info.path)
        .ok_or_else(|| format!("{}: storage {} is missing", info.name, info.path))?;
    if !info.layout.is_contiguous() {
        return Err(format!(
            "{}: strided tensors are not supported ({:?})",
            info.name, info.layout
        ));
    }
    let element_bytes = info.dtype.size_in_bytes();
    let start = info.layout.start_offset().checked_mul(element_bytes);
    let length = checked_elements(info.layout.dims()).and_then(|n| n.checked_mul(element_bytes));
    let end = start.zip(length).and_then(|(s, l)| s.checked_add(l));
    let (Some(start), Some(end)) = (start, end) else {
        return Err(format!(
            "{}: shape {:?} at offset {} does not fit in memory",
            info.name,
            info.layout.dims(),
            info.layout.start_offset()
        ));
    };
    let data = bytes.get(start..end).ok_or_else(|| {
        format!(
            "{}: needs bytes {start}..{end} of a {}-byte storage",
            info.name,
            bytes.len()
        )
    })?;
    Tensor::from_raw_buffer(data, info.dtype, info.layout.dims(), &Device::Cpu)
        .map_err(|e| format!("{}: {e}", info.name))
}

/// The element count of `dims`, or `None` where it overflows (a crafted shape).
pub(crate) fn checked_elements(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d))
}
