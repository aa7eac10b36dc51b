//! Inference convolutions against their definition and against the im2col products.
use super::*;
use crate::nets::fast::train_testing::random;

fn values(seed: u64, len: usize) -> Vec<f32> {
    let t = random((1, 1, 1, len), seed)
        .as_tensor()
        .flatten_all()
        .unwrap();
    t.to_vec1::<f32>().unwrap()
}

fn planes(seed: u64, (c, h, w): (usize, usize, usize)) -> Planes {
    Planes::new(c, h, w, values(seed, c * h * w)).unwrap()
}

/// A stride-1, zero-padded layer with seeded weights and bias.
fn random_conv(
    seed: u64,
    (inputs, outputs): (usize, usize),
    kernel: usize,
    padding: usize,
) -> Conv2d {
    let weight = values(seed, outputs * inputs * kernel * kernel);
    let weight = weight.iter().map(|v| 0.2 * v).collect();
    let bias = Some(values(seed + 1, outputs));
    Conv2d::new(
        inputs,
        outputs,
        kernel,
        1,
        (padding, PadMode::Zero),
        weight,
        bias,
    )
    .unwrap()
}

/// The layer as im2col products, bypassing Winograd.
fn im2col_forward(conv: &Conv2d, x: &Planes, epilogue: Epilogue) -> Planes {
    let (rows, cols) = conv.axis_tables(x.height, x.width, epilogue).unwrap();
    convolve(x, &rows, &cols, &conv.weight, &conv.bias, epilogue)
}

fn max_relative_difference(a: &Planes, b: &Planes) -> f32 {
    let scale = b.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a
        .data
        .iter()
        .zip(&b.data)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// `conv(x, weight) + bias` by its definition, zero padding `padding`, stride 1, in f64.
fn direct(conv: &Conv2d, x: &Planes) -> Vec<f64> {
    let (k, p) = (conv.kernel as isize, conv.padding as isize);
    let (oh, ow) = conv.output_size(x.height, x.width).unwrap();
    let mut out = Vec::with_capacity(conv.out_channels * oh * ow);
    for o in 0..conv.out_channels {
        for y in 0..oh as isize {
            for xo in 0..ow as isize {
                let mut sum = conv.bias[o] as f64;
                for c in 0..x.channels {
                    for i in 0..k {
                        for j in 0..k {
                            let (iy, ix) = (y + i - p, xo + j - p);
                            if (0..x.height as isize).contains(&iy)
                                && (0..x.width as isize).contains(&ix)
                            {
                                let v =
                                    x.data[(c * x.height + iy as usize) * x.width + ix as usize];
                                let w = conv.weight
                                    [((o * x.channels + c) as isize * k * k + i * k + j) as usize];
                                sum += v as f64 * w as f64;
                            }
                        }
                    }
                }
                out.push(sum);
            }
        }
    }
    out
}

#[test]
fn layers_with_more_channels_than_pixels_split_their_channels() {
    // The split depends on the pool's size: the painter's two threads.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(check_channel_split);
}

fn check_channel_split() {
    // (inputs, outputs, kernel, padding, height, width): SPADE's 8x4 head, an odd size, a
    // 1x1 layer read in place.
    for (i, &(inputs, outputs, kernel, padding, h, w)) in [
        (40, 256, 3, 1, 4, 8),
        (24, 152, 3, 1, 5, 7),
        (64, 232, 1, 0, 6, 9),
    ]
    .iter()
    .enumerate()
    {
        let threads = rayon::current_num_threads().max(1);
        let (oh, ow) = (h + 2 * padding + 1 - kernel, w + 2 * padding + 1 - kernel);
        let tiles = plan_tiles(oh, ow, outputs, inputs * kernel * kernel);
        assert!(
            tiles.len() > 1 && tiles.iter().all(|t| (t.q0, t.q1) == (0, oh)),
            "{tiles:?} ({threads} threads)"
        );
        assert_eq!(tiles.iter().map(|t| t.m1 - t.m0).sum::<usize>(), outputs);
        let seed = 100 + 10 * i as u64;
        let conv = random_conv(seed, (inputs, outputs), kernel, padding);
        let x = planes(seed + 2, (inputs, h, w));
        let fast = conv
            .forward(&x, Epilogue::activation(Activation::Identity))
            .unwrap();
        let expected = direct(&conv, &x);
        let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
        let worst = fast
            .data
            .iter()
            .zip(&expected)
            .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
        assert!(
            worst < 1e-5 * scale,
            "{:?}: {worst:.2e}",
            (inputs, outputs, kernel, h, w)
        );
    }
}

#[test]
fn winograd_layers_equal_im2col_products() {
    // (inputs, outputs, height, width, padding): odd sides, channels off the SIMD width.
    let shapes = [
        (32, 16, 37, 19, 1),
        (17, 40, 21, 30, 1),
        (48, 33, 26, 23, 0),
        (16, 32, 18, 36, 2),
    ];
    for (i, &(inputs, outputs, h, w, padding)) in shapes.iter().enumerate() {
        let seed = 10 * i as u64;
        let mut conv = random_conv(seed, (inputs, outputs), 3, padding);
        let x = planes(seed + 2, (inputs, h, w));
        let out_hw = conv.output_size(h, w).unwrap();
        assert!(
            winograd::pays_at_inference(inputs, outputs, out_hw),
            "{:?}",
            shapes[i]
        );
        let residual = planes(seed + 3, (outputs, out_hw.0, out_hw.1));
        for epilogue in [
            Epilogue::activation(Activation::Identity),
            Epilogue {
                residual: Some(&residual),
                activation: Activation::LeakyRelu(0.2),
            },
        ] {
            let fast = conv.forward(&x, epilogue).unwrap();
            let reference = im2col_forward(&conv, &x, epilogue);
            let d = max_relative_difference(&fast, &reference);
            assert!(d < 1e-5, "{:?}: {d:.2e}", shapes[i]);
        }
        assert!(
            conv.winograd.get().is_some(),
            "the kernel is kept for the next frame"
        );
        // Folding a norm into the weights transforms them anew.
        let scale = values(seed + 4, outputs);
        let shift = values(seed + 5, outputs);
        conv.fold_affine(&scale, &shift);
        let epilogue = Epilogue::activation(Activation::Identity);
        let d = max_relative_difference(
            &conv.forward(&x, epilogue).unwrap(),
            &im2col_forward(&conv, &x, epilogue),
        );
        assert!(d < 1e-5, "{:?} after fold_affine: {d:.2e}", shapes[i]);
    }
}

#[test]
fn an_image_head_with_tanh_equals_its_definition() {
    // SPADE's conv_img shape (16 -> 3, 3x3), odd sides, through the tiles' epilogue.
    let conv = random_conv(70, (16, 3), 3, 1);
    let x = planes(72, (16, 19, 37));
    let out = conv
        .forward(&x, Epilogue::activation(Activation::Tanh))
        .unwrap();
    let reference = direct(&conv, &x);
    assert_eq!(out.data.len(), reference.len());
    let worst = out
        .data
        .iter()
        .zip(&reference)
        .map(|(&v, &r)| (v as f64 - r.tanh()).abs())
        .fold(0f64, f64::max);
    assert!(worst < 2e-6, "{worst:e}");
    assert!(
        out.data.iter().any(|v| v.abs() > 0.5),
        "the test reaches tanh's bend"
    );
}
