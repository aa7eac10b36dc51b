//! Training checkpoints a user can trust: one safetensors file holding the weights of every
//! network (`G.`, `D.`, `E.` prefixes, PyTorch names), the optimizer moments and the training
//! state as JSON (iteration, schedule, RNG state), written atomically (`atomic_file`): to a
//! temporary file, synced and renamed over the old one. A crash or `kill -9` mid-write leaves the previous checkpoint whole.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{Error, Result};

/// Name of the tensor that carries the JSON training state.
const STATE_TENSOR: &str = "__train_state_json__";

/// Position of a ChaCha8 generator: seed, stream and word position restore it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    /// u128 as a decimal string: JSON numbers cannot hold it.
    pub word_pos: String,
}

impl RngState {
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        Self {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    pub fn restore(&self) -> Result<ChaCha8Rng> {
        let word_pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| Error::msg(format!("RNG state: bad word position {:?}", self.word_pos)))?;
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

/// Removes the temporary files (and the staging folders of `evaluation::keep_best`) that a
/// killed run left in `dir` and its subfolders one level down: those whose writer is not a
/// running process (on Linux, no `/proc/PID`; elsewhere, any other process's). Returns what
/// it removed, for the run's log.
pub fn remove_stale_temporaries(dir: &Path) -> Vec<PathBuf> {
    let ours = std::process::id();
    let alive = |pid: u32| {
        pid == ours
            || (Path::new("/proc/self").exists() && Path::new(&format!("/proc/{pid}")).exists())
    };
    let mut removed = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        folders.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(pid) = name.as_deref().and_then(crate::atomic_file::tmp_owner) else {
                continue;
            };
            if alive(pid) {
                continue;
            }
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if gone.is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

/// Saves `tensors` plus `state` (as JSON) to `path` atomically.
pub fn save<S: Serialize>(path: &Path, tensors: &HashMap<String, Tensor>, state: &S) -> Result<()> {
    let json = serde_json::to_vec(state).map_err(|e| Error::Json {
        path: path.into(),
        message: e.to_string(),
    })?;
    let mut all = tensors.clone();
    let len = json.len();
    all.insert(
        STATE_TENSOR.to_string(),
        Tensor::from_vec(json, len, &Device::Cpu)?,
    );
    crate::atomic_file::write_atomic(path, |tmp| {
        candle_core::safetensors::save(&all, tmp)
            .map_err(|e| Error::msg(format!("{}: cannot write checkpoint: {e}", tmp.display())))
    })
}

/// Loads a checkpoint written by `save`: its tensors (on `device`) and its state.
pub fn load<S: DeserializeOwned>(
    path: &Path,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, S)> {
    let mut tensors = candle_core::safetensors::load(path, device)
        .map_err(|e| Error::msg(format!("{}: cannot read checkpoint: {e}", path.display())))?;
    let state = tensors.remove(STATE_TENSOR).ok_or_else(|| {
        Error::msg(format!(
            "{}: not a scenepaint checkpoint (no training state)",
            path.display()
        ))
    })?;
    let bytes = state
        .to_dtype(DType::U8)?
        .to_device(&Device::Cpu)?
        .to_vec1::<u8>()?;
    let state = serde_json::from_slice(&bytes).map_err(|e| Error::Json {
        path: path.into(),
        message: e.to_string(),
    })?;
    Ok((tensors, state))
}

/// Every variable of `varmap` (buffers included) under `prefix`.
pub fn varmap_tensors(varmap: &VarMap, prefix: &str) -> Result<HashMap<String, Tensor>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::msg("variable map lock poisoned"))?;
    // Copies: `Var::set` writes in place, so a shared tensor would change under the caller.
    data.iter()
        .map(|(name, var)| Ok((format!("{prefix}{name}"), var.as_tensor().copy()?)))
        .collect()
}

/// Overwrites every variable of `varmap` with `tensors[prefix + name]`; a missing tensor or a
/// shape mismatch is an error naming it.
pub fn load_into_varmap(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    origin: &Path,
) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::msg("variable map lock poisoned"))?;
    for (name, var) in data.iter() {
        let key = format!("{prefix}{name}");
        let value = tensors.get(&key).ok_or_else(|| {
            Error::msg(format!(
                "{}: checkpoint lacks tensor {key}",
                origin.display()
            ))
        })?;
        if value.dims() != var.dims() {
            return Err(Error::msg(format!(
                "{}: tensor {key}: expected shape {:?}, found {:?}",
                origin.display(),
                var.dims(),
                value.dims()
            )));
        }
        var.set(&value.to_dtype(var.dtype())?.to_device(var.device())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        iteration: u64,
        rng: RngState,
    }

    #[test]
    fn rng_state_round_trips_mid_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let _: [u64; 5] = rng.random();
        let mut restored = RngState::capture(&rng).restore().unwrap();
        let a: [u32; 9] = rng.random();
        let b: [u32; 9] = restored.random();
        assert_eq!(a, b);
    }

    #[test]
    fn save_load_round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let mut tensors = HashMap::new();
        tensors.insert(
            "G.w".to_string(),
            Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap(),
        );
        let state = State {
            iteration: 42,
            rng: RngState::capture(&ChaCha8Rng::seed_from_u64(3)),
        };
        save(&path, &tensors, &state).unwrap();
        let (loaded, loaded_state): (_, State) = load(&path, &Device::Cpu).unwrap();
        assert_eq!(loaded_state, state);
        assert_eq!(loaded["G.w"].to_vec1::<f32>().unwrap(), vec![1.0, 2.0]);
        // A failing writer leaves the old file intact and no temporary behind.
        let err =
            crate::atomic_file::write_atomic(&path, |_| Err(Error::msg("disk full"))).unwrap_err();
        assert!(err.to_string().contains("disk full"));
        let (_, again): (HashMap<String, Tensor>, State) = load(&path, &Device::Cpu).unwrap();
        assert_eq!(again.iteration, 42);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn varmap_load_names_missing_and_mismatched_tensors() {
        let varmap = VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        vb.get_with_hints(3, "conv.weight", candle_nn::Init::Const(0.5))
            .unwrap();
        let saved = varmap_tensors(&varmap, "G.").unwrap();
        assert!(saved.contains_key("G.conv.weight"));
        let err = load_into_varmap(&varmap, &HashMap::new(), "G.", Path::new("x.st"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.st") && err.contains("G.conv.weight"),
            "{err}"
        );
        let mut wrong = HashMap::new();
        wrong.insert(
            "G.conv.weight".to_string(),
            Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
        );
        let err = load_into_varmap(&varmap, &wrong, "G.", Path::new("x.st"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[3]") && err.contains("[2]"), "{err}");
    }
}
