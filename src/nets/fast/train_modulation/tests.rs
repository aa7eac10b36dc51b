use candle_core::{Device, Tensor, Var};

use super::super::train_testing::{max_diff, random, weighted_sum};
use super::*;

/// A one-hot map of `classes` with blocky regions (larger with `scale`), plus an edge-like extra channel
/// set along one row when `edge` (so the vectors are not all one-hot).
fn blocky_map(
    n: usize,
    classes: usize,
    (h, w): (usize, usize),
    scale: usize,
    seed: usize,
    edge: bool,
) -> Tensor {
    let channels = classes + usize::from(edge);
    let mut values = vec![0f32; n * channels * h * w];
    for s in 0..n {
        for y in 0..h {
            for x in 0..w {
                let class =
                    ((y / (16 * scale) + s + seed) * 3 + (x + y / 4) / (19 * scale)) % classes;
                values[((s * channels + class) * h + y) * w + x] = 1.0;
                if edge && y == h / 2 {
                    values[((s * channels + classes) * h + y) * w + x] = 1.0;
                }
            }
        }
    }
    Tensor::from_vec(values, (n, channels, h, w), &Device::Cpu).unwrap()
}

fn plain(seg: &Tensor, ws: &Tensor, bs: &Tensor, wo: &Tensor, bo: &Tensor, pad: usize) -> Tensor {
    let per = |b: &Tensor| b.reshape((1, b.dim(0).unwrap(), 1, 1)).unwrap();
    let hidden = seg
        .conv2d(ws, pad, 1, 1, 1)
        .unwrap()
        .broadcast_add(&per(bs))
        .unwrap()
        .relu()
        .unwrap();
    hidden
        .conv2d(wo, pad, 1, 1, 1)
        .unwrap()
        .broadcast_add(&per(bo))
        .unwrap()
}

fn vector(len: usize, seed: u64) -> Var {
    let v = random((1, 1, 1, len), seed)
        .as_tensor()
        .flatten_all()
        .unwrap();
    Var::from_tensor(&v).unwrap()
}

/// Forward and every weight gradient against Candle's dense convolutions.
fn check(seg: &Tensor, hidden: usize, out: usize, kernel: usize) {
    let (_, label_nc, _, _) = seg.dims4().unwrap();
    let shape = ModulationShape {
        label_nc,
        hidden,
        out,
        kernel,
    };
    let ws = random((hidden, label_nc, kernel, kernel), 11);
    let wo = random((out, hidden, kernel, kernel), 12);
    let (bs, bo) = (vector(hidden, 13), vector(out, 14));
    let sparse = SparseSeg::prepare(seg, kernel)
        .unwrap()
        .expect("a blocky map takes the sparse op");
    let pack = |w: &Var, b: &Var| {
        Tensor::cat(&[&w.as_tensor().flatten_all().unwrap(), b.as_tensor()], 0).unwrap()
    };
    let fast = modulation(&sparse, shape, &pack(&ws, &bs), &pack(&wo, &bo)).unwrap();
    let reference = plain(seg, &ws, &bs, &wo, &bo, kernel / 2);
    let what = format!("{:?} {shape:?}", seg.dims());
    assert_eq!(fast.dims(), reference.dims(), "{what}");
    let scale = max_diff(&reference, &reference.zeros_like().unwrap());
    assert!(
        max_diff(&fast, &reference) < 1e-5 * scale.max(1.0),
        "{what}: values"
    );
    let weights = random(reference.dims4().unwrap(), 15).as_tensor().detach();
    let gf = weighted_sum(&fast, &weights).backward().unwrap();
    let gp = weighted_sum(&reference, &weights).backward().unwrap();
    for (name, var) in [
        ("mlp_shared.weight", &ws),
        ("mlp_shared.bias", &bs),
        ("out.weight", &wo),
        ("out.bias", &bo),
    ] {
        let (a, b) = (gf.get(var).unwrap(), gp.get(var).unwrap());
        let scale = max_diff(b, &b.zeros_like().unwrap());
        assert!(scale > 1e-3, "{what} {name}: a gradient to compare");
        let diff = max_diff(a, b);
        assert!(
            diff < 1e-4 * scale.max(1.0),
            "{what} d{name}: {diff} of {scale}"
        );
    }
}

#[test]
fn equals_the_dense_convolutions_on_awkward_shapes() {
    // Odd sizes, batch > 1, channels not a multiple of the SIMD width.
    check(&blocky_map(2, 4, (47, 53), 1, 0, false), 5, 7, 3);
    check(&blocky_map(3, 3, (49, 61), 1, 1, true), 9, 17, 3);
    check(&blocky_map(1, 5, (93, 101), 2, 2, false), 6, 3, 5);
}

#[test]
fn a_map_of_noise_keeps_the_dense_convolutions() {
    let noise = random((1, 3, 16, 16), 3).as_tensor().detach();
    assert!(SparseSeg::prepare(&noise, 3).unwrap().is_none());
    let one_class = blocky_map(1, 1, (16, 16), 1, 0, false);
    assert!(SparseSeg::prepare(&one_class, 3).unwrap().is_some());
}
