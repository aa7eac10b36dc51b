//! Reproducible random weights: Candle's own RNG cannot be seeded, so every variable of a
//! freshly built network is overwritten with values from a seeded generator, in the ranges of
//! PyTorch's default init. Batch-norm statistics and affine parameters are randomised too
//! (their init, 0 and 1, would hide a wrong fold), and spectral-norm vectors are converged, as a
//! trained layer stores them. Used by the benchmarks and the fast path's tests.
use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The `(low, high)` range of a variable's values, by its name and shape.
fn range(name: &str, dims: &[usize]) -> Option<(f32, f32)> {
    Some(match dims.len() {
        0 => return None,
        1 if name.ends_with("running_var") || name.ends_with(".weight") => (0.5, 1.5),
        1 if name.ends_with("weight_u") || name.ends_with("weight_v") => (-1.0, 1.0),
        1 => (-0.3, 0.3),
        _ => {
            let bound = 1.0 / (dims[1..].iter().product::<usize>() as f32).sqrt();
            (-bound, bound)
        }
    })
}

/// `t / |t|`.
fn normalized(t: &Tensor) -> candle_core::Result<Tensor> {
    let norm = t.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
    t / f64::from(norm.max(1e-12))
}

/// Overwrites every variable of `varmap` with values drawn from `seed` (names in sorted order).
pub fn seed_weights(varmap: &candle_nn::VarMap, seed: u64) -> candle_core::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = varmap.data().lock().map_err(|_| {
        candle_core::Error::Msg("seed_weights: the variable map is poisoned".into())
    })?;
    let mut names: Vec<_> = data.keys().cloned().collect();
    names.sort();
    for name in names {
        let var = &data[&name];
        let Some((lo, hi)) = range(&name, var.dims()) else {
            continue;
        };
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(lo..hi))
            .collect();
        var.set(&Tensor::from_vec(values, var.dims(), var.device())?)?;
    }
    for (name, weight) in data.iter().filter(|(n, _)| n.ends_with("weight_orig")) {
        let prefix = name.trim_end_matches("weight_orig");
        let (Some(u_var), Some(v_var)) = (
            data.get(&format!("{prefix}weight_u")),
            data.get(&format!("{prefix}weight_v")),
        ) else {
            continue;
        };
        let w = weight.as_tensor().flatten_from(1)?;
        let mut v = v_var.as_tensor().clone();
        let mut u = v.clone();
        for _ in 0..20 {
            u = normalized(&w.matmul(&v.unsqueeze(1)?)?.squeeze(1)?)?;
            v = normalized(&w.t()?.matmul(&u.unsqueeze(1)?)?.squeeze(1)?)?;
        }
        u_var.set(&u)?;
        v_var.set(&v)?;
    }
    Ok(())
}
