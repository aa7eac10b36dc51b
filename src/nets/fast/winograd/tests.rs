//! Winograd convolutions against the definition, in f64, on awkward shapes.
use super::*;
use crate::nets::fast::train_testing::random;

/// `len` seeded values in [-scale, scale).
fn uniform_values(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let values = random((1, 1, 1, len), seed)
        .as_tensor()
        .flatten_all()
        .unwrap();
    values
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v * scale)
        .collect()
}

/// `conv(x, w)` (zero padding, stride 1, 3x3) in f64: (n, o, oh, ow).
fn direct(x: &[f32], w: &[f32], input: Input, outputs: usize) -> Vec<f64> {
    let (oh, ow) = input.output_size();
    let (c, h, wd, p) = (
        input.channels,
        input.height as isize,
        input.width as isize,
        input.padding as isize,
    );
    let mut out = vec![0f64; input.n * outputs * oh * ow];
    for n in 0..input.n {
        for o in 0..outputs {
            for y in 0..oh {
                for xo in 0..ow {
                    let mut sum = 0f64;
                    for ch in 0..c {
                        for i in 0..3 {
                            for j in 0..3 {
                                let (iy, ix) = (y as isize + i - p, xo as isize + j - p);
                                if (0..h).contains(&iy) && (0..wd).contains(&ix) {
                                    let xv = x[((n * c + ch) * input.height + iy as usize)
                                        * input.width
                                        + ix as usize];
                                    sum += xv as f64
                                        * w[((o * c + ch) * 3 + i as usize) * 3 + j as usize]
                                            as f64;
                                }
                            }
                        }
                    }
                    out[((n * outputs + o) * oh + y) * ow + xo] = sum;
                }
            }
        }
    }
    out
}

/// The adjoint of [`direct`]: `dx` (n, c, h, w) of the output gradient `g`.
fn direct_input_gradient(g: &[f32], w: &[f32], input: Input, outputs: usize) -> Vec<f64> {
    let (oh, ow) = input.output_size();
    let (c, p) = (input.channels, input.padding as isize);
    let mut dx = vec![0f64; input.n * c * input.height * input.width];
    for n in 0..input.n {
        for o in 0..outputs {
            for y in 0..oh {
                for xo in 0..ow {
                    let gv = g[((n * outputs + o) * oh + y) * ow + xo] as f64;
                    for ch in 0..c {
                        for i in 0..3 {
                            for j in 0..3 {
                                let (iy, ix) = (y as isize + i - p, xo as isize + j - p);
                                if (0..input.height as isize).contains(&iy)
                                    && (0..input.width as isize).contains(&ix)
                                {
                                    dx[((n * c + ch) * input.height + iy as usize)
                                        * input.width
                                        + ix as usize] += gv
                                        * w[((o * c + ch) * 3 + i as usize) * 3 + j as usize]
                                            as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    dx
}

fn rel_l2(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff: f64 = a.iter().zip(b).map(|(&a, &b)| (a as f64 - b).powi(2)).sum();
    let norm: f64 = b.iter().map(|b| b * b).sum();
    (diff / norm.max(1e-30)).sqrt()
}

const SHAPES: [(usize, usize, usize, usize, usize, usize); 7] = [
    // (n, channels, height, width, outputs, padding)
    (2, 17, 7, 9, 19, 1),
    (1, 16, 13, 5, 33, 0),
    (3, 20, 6, 11, 16, 2),
    (1, 33, 1, 3, 17, 1),
    (2, 16, 24, 40, 48, 1),
    // Rows of more than 16 tiles: whole 16-tile groups, a partial one, and the padding.
    (2, 16, 9, 150, 17, 1),
    (1, 18, 5, 131, 16, 0),
];

/// Each shape as (seed, input, output channels).
fn cases() -> impl Iterator<Item = (u64, Input, usize)> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(seed, &(n, channels, height, width, outputs, padding))| {
            let input = Input {
                n,
                channels,
                height,
                width,
                padding,
            };
            (seed as u64, input, outputs)
        })
}

/// Seeded `(x, weight, bias)` of a forward case, from `seed` up.
fn operands(seed: u64, input: Input, outputs: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Input {
        n,
        channels,
        height,
        width,
        ..
    } = input;
    (
        uniform_values(seed, n * channels * height * width, 1.0),
        uniform_values(100 + seed, outputs * channels * 9, 0.3),
        uniform_values(200 + seed, outputs, 0.5),
    )
}

#[test]
fn forward_matches_the_definition_on_awkward_shapes() {
    for (seed, input, outputs) in cases() {
        let (n, channels) = (input.n, input.channels);
        let (x, w, bias) = operands(seed, input, outputs);
        let kernel = WinogradKernel::forward(&w, outputs, channels);
        let (oh, ow) = input.output_size();
        let mut out = vec![f32::NAN; n * outputs * oh * ow];
        convolve(&kernel, &x, input, &bias, Activation::Identity, &mut out);
        let mut expected = direct(&x, &w, input, outputs);
        let plane = oh * ow;
        for (i, e) in expected.iter_mut().enumerate() {
            *e += bias[(i / plane) % outputs] as f64;
        }
        let rel = rel_l2(&out, &expected);
        assert!(rel < 1e-5, "{input:?} -> {outputs}: rel L2 {rel:.2e}");
        // The activation is applied after the bias.
        let mut relu = vec![f32::NAN; out.len()];
        convolve(&kernel, &x, input, &bias, Activation::Relu, &mut relu);
        assert!(relu.iter().zip(&out).all(|(r, o)| *r == o.max(0.0)));
    }
}

#[test]
fn input_gradient_matches_the_adjoint() {
    for (seed, input, outputs) in cases() {
        let Input {
            n,
            channels,
            height,
            width,
            padding,
        } = input;
        let (oh, ow) = input.output_size();
        let g = uniform_values(300 + seed, n * outputs * oh * ow, 1.0);
        let w = uniform_values(400 + seed, outputs * channels * 9, 0.3);
        let kernel = WinogradKernel::input_gradient(&w, outputs, channels);
        assert_eq!(kernel.outputs(), channels);
        let grad_input = Input {
            n,
            channels: outputs,
            height: oh,
            width: ow,
            padding: 2 - padding,
        };
        assert_eq!(grad_input.output_size(), (height, width));
        let mut dx = vec![f32::NAN; n * channels * height * width];
        convolve(
            &kernel,
            &g,
            grad_input,
            &vec![0.0; channels],
            Activation::Identity,
            &mut dx,
        );
        let rel = rel_l2(&dx, &direct_input_gradient(&g, &w, input, outputs));
        assert!(rel < 1e-5, "dX of {input:?} -> {outputs}: rel L2 {rel:.2e}");
    }
}

#[test]
fn only_3x3_stride_1_convolutions_with_enough_channels_apply() {
    assert!(applies(3, 1, 1, 64, 64));
    assert!(!applies(3, 2, 1, 64, 64));
    assert!(!applies(4, 1, 1, 64, 64));
    assert!(!applies(3, 1, 3, 64, 64));
    assert!(!applies(3, 1, 1, 3, 64));
    assert!(!applies(3, 1, 1, 64, 16));
}

#[test]
fn a_residual_is_added_before_the_activation() {
    for (seed, input, outputs) in cases() {
        let (n, channels) = (input.n, input.channels);
        let (x, w, bias) = operands(500 + seed, input, outputs);
        let (oh, ow) = input.output_size();
        let residual = uniform_values(800 + seed, n * outputs * oh * ow, 2.0);
        let kernel = WinogradKernel::forward(&w, outputs, channels);
        let leaky = Activation::LeakyRelu(0.2);
        let mut out = vec![f32::NAN; residual.len()];
        convolve_residual(
            &kernel,
            &x,
            input,
            &bias,
            (Some(&residual), leaky),
            &mut out,
        );
        let plane = oh * ow;
        let expected: Vec<f64> = direct(&x, &w, input, outputs)
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let sum = v + bias[(i / plane) % outputs] as f64 + residual[i] as f64;
                if sum < 0.0 {
                    0.2 * sum
                } else {
                    sum
                }
            })
            .collect();
        let rel = rel_l2(&out, &expected);
        assert!(
            rel < 1e-5,
            "{input:?} -> {outputs} with a residual: rel L2 {rel:.2e}"
        );
    }
}

#[test]
fn inference_takes_layers_with_enough_channels_and_tiles() {
    // 32 tiles: an 8 x 4 grid of 4 x 4 tiles.
    assert!(pays_at_inference(32, 16, (16, 32)));
    assert!(pays_at_inference(256, 128, (16, 32)));
    assert!(!pays_at_inference(32, 16, (16, 28)), "28 tiles");
    assert!(!pays_at_inference(16, 16, (128, 256)), "16 -> 16");
    assert!(!pays_at_inference(8, 64, (128, 256)), "8 inputs");
}
