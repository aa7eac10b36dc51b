//! Test helpers of the fast training ops: seeded values as variables, the plain Candle
//! leaky ReLU to compare with, and the comparisons.
use candle_core::{Device, Tensor, Var, D};

/// A variable of `shape` with values in [-1, 1) from a small LCG seeded with `seed`.
pub fn random(shape: (usize, usize, usize, usize), seed: u64) -> Var {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let mut state = seed;
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Var::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// Candle's own `max(x, slope x)`.
pub fn plain_lrelu(x: &Tensor, slope: f64) -> Tensor {
    x.maximum(&(x * slope).unwrap()).unwrap()
}

/// The largest absolute difference.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(D::Minus1)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// A loss that weighs every output element differently, so every gradient term shows.
pub fn weighted_sum(y: &Tensor, weights: &Tensor) -> Tensor {
    (y * weights).unwrap().sum_all().unwrap()
}
