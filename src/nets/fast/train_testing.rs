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

/// Asserts that `fused` and `plain` give the same values (within 1e-6) on `x` and the same
/// gradient of `x` under a seeded weighting of their outputs, a gradient that is not all zero.
pub fn assert_same_op(
    x: &Var,
    seed: u64,
    fused: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    plain: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
) {
    let (f, p) = (fused(x.as_tensor()).unwrap(), plain(x.as_tensor()).unwrap());
    let what = format!("input {:?}", x.dims());
    assert_eq!(f.dims(), p.dims(), "{what}");
    assert!(max_diff(&f, &p) < 1e-6, "{what}: values");
    let weights = random(p.dims4().unwrap(), seed).as_tensor().detach();
    let gf = weighted_sum(&f, &weights).backward().unwrap();
    let gp = weighted_sum(&p, &weights).backward().unwrap();
    let expected = gp.get(x).unwrap();
    assert!(
        max_diff(expected, &expected.zeros_like().unwrap()) > 0.01,
        "{what}"
    );
    assert!(
        max_diff(gf.get(x).unwrap(), expected) < 1e-6,
        "{what}: gradients"
    );
}
