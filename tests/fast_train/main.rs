//! Training on the fast CPU kernels (issue 13): the convolution op's forward and both
//! gradients equal Candle's conv2d on awkward shapes (odd sizes, stride 2, zero padding,
//! batch > 1, channel counts that are not a multiple of the SIMD width, a strided input, a
//! frozen weight), and one whole training iteration (D step, G step, every loss, the Adam
//! updates, spectral-norm power iteration, norm statistics) through the fast path equals the
//! plain Candle path (`SCENEPAINT_TRAINING=candle`) from the same weights and batch.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
#[path = "../train_support/mod.rs"]
mod train_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scenepaint::nets::fast::{train_conv, training_path};

mod bias_and_labels;
mod iterations;

fn random(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn rel_l2(a: &Tensor, b: &Tensor) -> f64 {
    let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    rel_l2_values(&values(a), &values(b))
}

type Op<'a> = dyn Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor> + 'a;

/// Output and gradients of `sum(op(x, w) * r)` by the fast op and by Candle's.
fn compare_op(
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    seed: u64,
    what: &str,
    fast: &Op,
    plain: &Op,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x0 = random(&x_shape, &mut rng);
    let w0 = random(&w_shape, &mut rng);
    let run = |op: &Op| {
        let (x, w) = (
            Var::from_tensor(&x0).unwrap(),
            Var::from_tensor(&w0).unwrap(),
        );
        let y = op(x.as_tensor(), w.as_tensor()).unwrap();
        let r = random(y.dims(), &mut ChaCha8Rng::seed_from_u64(seed + 1));
        let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = grads.get(x.as_tensor()).unwrap().clone();
        let dw = grads.get(w.as_tensor()).unwrap().clone();
        (y, dx, dw)
    };
    let (fast, plain) = (run(fast), run(plain));
    let what = format!("x {x_shape:?} w {w_shape:?} {what}");
    assert_eq!(fast.0.dims(), plain.0.dims(), "{what}: output shape");
    for (name, a, b) in [
        ("output", &fast.0, &plain.0),
        ("dX", &fast.1, &plain.1),
        ("dW", &fast.2, &plain.2),
    ] {
        let rel = rel_l2(a, b);
        assert!(rel < 1e-5, "{what}: {name} differs, rel L2 {rel:.2e}");
    }
}

fn compare(x_shape: [usize; 4], w_shape: [usize; 4], padding: usize, stride: usize, seed: u64) {
    compare_op(
        x_shape,
        w_shape,
        seed,
        &format!("pad {padding} stride {stride}"),
        &|x, w| train_conv::conv2d(x, w, padding, stride),
        &|x, w| x.conv2d(w, padding, stride, 1, 1),
    );
}

fn compare_transpose(
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    (padding, output_padding, stride): (usize, usize, usize),
    seed: u64,
) {
    compare_op(
        x_shape,
        w_shape,
        seed,
        &format!("pad {padding} out_pad {output_padding} stride {stride} (transposed)"),
        &|x, w| train_conv::conv_transpose2d(x, w, padding, output_padding, stride),
        &|x, w| x.conv_transpose2d(w, padding, output_padding, stride, 1),
    );
}

#[test]
fn conv_forward_and_gradients_equal_candle_on_awkward_shapes() {
    let cases = [
        ([1, 3, 9, 7], [5, 3, 3, 3], 1, 1),
        ([2, 5, 11, 13], [7, 5, 3, 3], 1, 2),
        ([2, 4, 10, 10], [3, 4, 4, 4], 1, 2),
        ([1, 6, 8, 9], [17, 6, 1, 1], 0, 1),
        ([3, 2, 12, 7], [4, 2, 5, 5], 2, 1),
        ([1, 9, 6, 6], [8, 9, 3, 3], 0, 1),
        ([1, 3, 33, 17], [19, 3, 7, 7], 3, 2),
        ([2, 3, 64, 64], [8, 3, 4, 4], 2, 2),
        ([2, 8, 33, 33], [16, 8, 4, 4], 2, 2),
        ([2, 10, 70, 70], [8, 10, 7, 7], 0, 1),
        ([1, 16, 32, 32], [16, 16, 3, 3], 1, 2),
        ([2, 64, 40, 40], [64, 64, 3, 3], 1, 1),
        // 3x3 stride 1 with enough channels and tiles for Winograd's F(4x4, 3x3)
        // (`fast::winograd`): odd sides, rows of more than 16 tiles, padding 0, 1 and 2.
        ([3, 33, 23, 37], [35, 33, 3, 3], 1, 1),
        ([2, 32, 30, 45], [32, 32, 3, 3], 0, 1),
        ([1, 32, 33, 70], [40, 32, 3, 3], 2, 1),
        // At least 64 output channels and 32 Ki weights: the weight gradient split by columns
        // (odd sizes and channel counts, stride 2, batch > 1, the discriminator's 4x4 p2).
        ([2, 29, 13, 11], [67, 29, 5, 5], 2, 2),
        ([1, 130, 9, 9], [65, 130, 4, 4], 2, 1),
        ([3, 41, 7, 12], [97, 41, 3, 3], 0, 1),
        // At most 4 output channels at stride 1: sums of shifted rows (train_conv_few.rs):
        // pix2pixHD's 7x7 output layer, a discriminator's last layer, no padding, padding
        // wider than the kernel (output columns no tap reaches).
        ([2, 7, 9, 11], [3, 7, 7, 7], 3, 1),
        ([1, 19, 5, 6], [1, 19, 4, 4], 2, 1),
        ([2, 3, 10, 8], [2, 3, 7, 7], 0, 1),
        ([1, 4, 3, 5], [4, 4, 3, 3], 3, 1),
        // Two to four output channels: forward and dX as direct convolutions over blocks of 64
        // columns (train_conv_direct.rs): more than one block with a short last one, a
        // 5x5 kernel, batch 2.
        ([1, 5, 9, 70], [3, 5, 3, 3], 1, 1),
        ([2, 6, 5, 130], [4, 6, 5, 5], 2, 1),
        // pix2pixHD's discriminator: 4x4 stride 1 padding 2 (the map grows), one output channel.
        ([2, 64, 10, 10], [1, 64, 4, 4], 2, 1),
        ([2, 32, 5, 5], [64, 32, 4, 4], 2, 1),
        ([2, 64, 6, 6], [1, 64, 4, 4], 2, 1),
        // At and either side of the pixel count where the weight gradient is summed
        // transposed (256 output pixels over the batch).
        ([1, 5, 15, 17], [3, 5, 3, 3], 1, 1),
        ([1, 5, 16, 16], [3, 5, 3, 3], 1, 1),
        ([1, 5, 16, 17], [3, 5, 3, 3], 1, 1),
        // At least 64 channels each way on at most 1024 output pixels, stride 1: the input
        // gradient split by input channels (train_conv_input_grad.rs): pix2pixHD's residual
        // block (padding 0), channel counts that leave a short last block, batch > 1.
        ([2, 67, 9, 11], [64, 67, 3, 3], 0, 1),
        ([3, 70, 6, 5], [66, 70, 4, 4], 2, 1),
        ([1, 257, 12, 10], [64, 257, 3, 3], 1, 1),
    ];
    for (i, (x, w, padding, stride)) in cases.into_iter().enumerate() {
        compare(x, w, padding, stride, i as u64);
    }
}

/// Each thread of the pool adds `dX` into the input rows it owns and keeps the rows its
/// window shares with a neighbour aside: with more threads than a layer has rows, or bands a
/// row wide, some threads own nothing and windows reach past their neighbours'.
#[test]
fn conv_gradients_do_not_depend_on_the_thread_count() {
    let cases = [
        ([2, 5, 11, 13], [7, 5, 3, 3], 1, 2),
        ([1, 3, 33, 17], [19, 3, 7, 7], 3, 2),
        ([2, 32, 5, 5], [64, 32, 4, 4], 2, 1),
        ([1, 4, 3, 9], [6, 4, 3, 3], 1, 1),
        ([2, 6, 20, 8], [5, 6, 5, 5], 2, 1),
        // Few output channels: rows of the output and of dX, kernels of dW among the threads.
        ([2, 7, 9, 11], [3, 7, 7, 7], 3, 1),
        // The weight gradient split by columns: 29 * 25 of them among the threads.
        ([2, 29, 13, 11], [67, 29, 5, 5], 2, 2),
        // The input gradient split by input channels; on one thread its 30-channel blocks'
        // column gradient (270 x 1024 values) is cut into two pixel steps.
        ([2, 67, 9, 11], [64, 67, 3, 3], 0, 1),
        ([1, 240, 32, 32], [64, 240, 3, 3], 1, 1),
    ];
    for threads in [1, 3, 7] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        pool.install(|| {
            for (i, (x, w, padding, stride)) in cases.into_iter().enumerate() {
                compare(x, w, padding, stride, 100 + i as u64);
            }
        });
    }
}

#[test]
fn transposed_conv_forward_and_gradients_equal_candle_on_awkward_shapes() {
    let cases = [
        // pix2pix's U-Net (k4 s2 p1) and pix2pixHD's upsampler (k3 s2 p1, output padding 1).
        ([2, 8, 8, 8], [8, 5, 4, 4], (1, 0, 2)),
        ([1, 6, 7, 9], [6, 3, 3, 3], (1, 1, 2)),
        ([2, 5, 5, 5], [5, 7, 3, 3], (1, 0, 1)),
        ([1, 16, 4, 6], [16, 9, 4, 4], (1, 0, 2)),
        ([3, 3, 6, 6], [3, 2, 5, 5], (2, 1, 2)),
        // Enough pixels (2 x 12 x 12) for the weight gradient's transposed sum.
        ([2, 4, 12, 12], [4, 6, 4, 4], (1, 0, 2)),
        // A weight gradient split by columns (96 x 70 x 4 x 4 weights).
        ([2, 96, 5, 7], [96, 70, 4, 4], (1, 0, 2)),
    ];
    for (i, (x, w, g)) in cases.into_iter().enumerate() {
        compare_transpose(x, w, g, 100 + i as u64);
    }
}

fn rel_l2_values(a: &[f32], b: &[f32]) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        diff += f64::from(x - y).powi(2);
        norm += f64::from(*y).powi(2);
    }
    (diff / norm.max(1e-30)).sqrt()
}
