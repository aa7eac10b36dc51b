//! Reproducible weight initialisation from a seeded ChaCha8 generator (Candle's CPU RNG
//! cannot be seeded). Mirrors the published `init_weights`: SPADE `xavier` with gain
//! `init_variance` 0.02, pix2pix `normal(0, 0.02)` with zero biases, pix2pixHD
//! `normal(0, 0.02)` keeping PyTorch's default uniform conv bias; norm weights
//! `normal(1, 0.02)`, norm biases 0; spectral-norm `u`, `v` normalised standard normals.
use candle_core::Tensor;
use candle_nn::VarMap;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How conv/linear weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum InitScheme {
    /// `xavier_normal_(gain)`, biases 0 (SPADE).
    Xavier { gain: f64 },
    /// `normal_(0, std)`, biases 0 (pix2pix).
    Normal { std: f64 },
    /// `normal_(0, std)`, biases uniform(+-1/sqrt(fan_in)) as PyTorch's default (pix2pixHD).
    NormalDefaultBias { std: f64 },
}

pub use crate::nets::spade_generator::standard_normal;

fn fans(dims: &[usize]) -> (f64, f64) {
    let receptive: usize = dims.iter().skip(2).product();
    ((dims[1] * receptive) as f64, (dims[0] * receptive) as f64)
}

fn value_for(
    name: &str,
    dims: &[usize],
    fan_in_of_weight: Option<f64>,
    scheme: InitScheme,
    rng: &mut ChaCha8Rng,
) -> Option<Vec<f32>> {
    let count: usize = dims.iter().product();
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let scaled = |rng: &mut ChaCha8Rng, mean: f64, std: f64| -> Vec<f32> {
        standard_normal(rng, count)
            .into_iter()
            .map(|v| (mean + std * f64::from(v)) as f32)
            .collect()
    };
    match leaf {
        "weight" | "weight_orig" if dims.len() >= 2 => {
            let (fan_in, fan_out) = fans(dims);
            let std = match scheme {
                InitScheme::Xavier { gain } => gain * (2.0 / (fan_in + fan_out)).sqrt(),
                InitScheme::Normal { std } | InitScheme::NormalDefaultBias { std } => std,
            };
            Some(scaled(rng, 0.0, std))
        }
        "weight" => Some(scaled(rng, 1.0, 0.02)),
        "bias" => match (scheme, fan_in_of_weight) {
            (InitScheme::NormalDefaultBias { .. }, Some(fan_in)) => {
                let bound = 1.0 / fan_in.sqrt();
                Some(
                    (0..count)
                        .map(|_| rng.random_range(-bound..bound) as f32)
                        .collect(),
                )
            }
            _ => Some(vec![0.0; count]),
        },
        "weight_u" | "weight_v" => {
            let v = standard_normal(rng, count);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            Some(v.into_iter().map(|x| x / norm).collect())
        }
        "running_mean" => Some(vec![0.0; count]),
        "running_var" => Some(vec![1.0; count]),
        _ => None,
    }
}

/// Re-draws every floating-point variable of `varmap` in name order, so the same seed gives
/// the same network whatever order the builder created the variables in.
pub fn init_varmap(varmap: &VarMap, scheme: InitScheme, rng: &mut ChaCha8Rng) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::msg("variable map lock poisoned"))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        if !var.dtype().is_float() {
            continue;
        }
        let sibling_weight = name.strip_suffix("bias").and_then(|stem| {
            data.get(&format!("{stem}weight"))
                .or_else(|| data.get(&format!("{stem}weight_orig")))
        });
        let fan_in = sibling_weight
            .filter(|w| w.rank() >= 2)
            .map(|w| fans(w.dims()).0);
        if let Some(values) = value_for(name, var.dims(), fan_in, scheme, rng) {
            let tensor =
                Tensor::from_vec(values, var.dims(), var.device())?.to_dtype(var.dtype())?;
            var.set(&tensor)?;
        }
    }
    Ok(())
}

/// `load_pretrain`: copies every tensor of the state dict at `file` whose name and shape match
/// a variable of `varmap` (the published `load_network` also skips what does not match, e.g.
/// the layers a global generator has and the local enhancer's global part lacks), after
/// `init_varmap`. Returns how many were copied; matching nothing is an error naming `what`.
pub fn load_matching(varmap: &VarMap, file: &std::path::Path, what: &str) -> Result<usize> {
    let loaded = copy_matching(varmap, file)?;
    if loaded == 0 {
        return Err(Error::msg(format!(
            "{}: load_pretrain matched none of the {what}'s {} tensors by name and shape",
            file.display(),
            varmap.all_vars().len()
        )));
    }
    Ok(loaded)
}

/// Copies the tensors of `file` that match a variable of `varmap` by name and shape.
fn copy_matching(varmap: &VarMap, file: &std::path::Path) -> Result<usize> {
    let tensors = crate::nets::weights::read_tensors(file)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::msg("variable map lock poisoned"))?;
    let mut loaded = 0;
    for (name, var) in data.iter() {
        if let Some(tensor) = tensors.get(name).filter(|t| t.dims() == var.dims()) {
            var.set(&tensor.to_dtype(var.dtype())?.to_device(var.device())?)?;
            loaded += 1;
        }
    }
    Ok(loaded)
}

/// `load_pretrain`'s discriminator, like pix2pixHD's `load_network(netD)`: from a bundle
/// folder's `discriminator.safetensors` when it has one, copying what matches by name and shape
/// (nothing matching leaves D as initialised, as the published loader skips mismatched layers).
/// Returns how many tensors were copied.
pub fn load_pretrained_discriminator(source: &std::path::Path, d_vars: &VarMap) -> Result<usize> {
    let file = source.join(crate::nets::bundle::DISCRIMINATOR_FILE);
    if !source.is_dir() || !file.exists() {
        return Ok(0);
    }
    copy_matching(d_vars, &file)
}

/// The generator's state dict of `load_pretrain`: a bundle folder's generator, or the file.
pub fn pretrained_generator_file(source: &std::path::Path) -> std::path::PathBuf {
    if source.is_dir() {
        source.join(crate::nets::bundle::GENERATOR_FILE)
    } else {
        source.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use rand::SeedableRng;

    fn build(order_swapped: bool) -> VarMap {
        let varmap = VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let names = if order_swapped {
            ["b.weight", "a.weight"]
        } else {
            ["a.weight", "b.weight"]
        };
        for name in names {
            vb.get((64, 32, 3, 3), name).unwrap();
        }
        vb.get(64, "a.bias").unwrap();
        vb.get(64, "n.weight").unwrap();
        varmap
    }

    fn values(varmap: &VarMap, name: &str) -> Vec<f32> {
        varmap.data().lock().unwrap()[name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn same_seed_same_weights_with_the_published_statistics() {
        let (a, b) = (build(false), build(true));
        for map in [&a, &b] {
            init_varmap(
                map,
                InitScheme::Xavier { gain: 0.02 },
                &mut ChaCha8Rng::seed_from_u64(5),
            )
            .unwrap();
        }
        assert_eq!(values(&a, "b.weight"), values(&b, "b.weight"));
        let w = values(&a, "a.weight");
        let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
        let want = 0.02 * (2.0f32 / ((32 * 9 + 64 * 9) as f32)).sqrt();
        assert!((std / want - 1.0).abs() < 0.05, "std {std} want {want}");
        assert!(values(&a, "a.bias").iter().all(|&x| x == 0.0));
        let norm = values(&a, "n.weight");
        assert!(norm.iter().all(|x| (x - 1.0).abs() < 0.1) && norm.iter().any(|&x| x != 1.0));
    }

    #[test]
    fn pix2pixhd_keeps_a_default_uniform_bias() {
        let map = build(false);
        init_varmap(
            &map,
            InitScheme::NormalDefaultBias { std: 0.02 },
            &mut ChaCha8Rng::seed_from_u64(1),
        )
        .unwrap();
        let bias = values(&map, "a.bias");
        let bound = 1.0 / (32.0f32 * 9.0).sqrt();
        assert!(bias.iter().all(|x| x.abs() <= bound) && bias.iter().any(|&x| x != 0.0));
    }
}
