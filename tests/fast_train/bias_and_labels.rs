//! The fused bias, the convolutions that read a one-hot label map, a strided input and a frozen weight, against Candle's ops.
use super::*;

type BiasOp<'a> = dyn Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor> + 'a;

/// Output and the gradients of input, weight and bias of `sum(op(x, w, b) * r)` by the fast
/// op and by Candle's op followed by a broadcast add; then a frozen bias gets no gradient.
fn compare_with_bias(
    shapes: ([usize; 4], [usize; 4], usize),
    seed: u64,
    fast: &BiasOp,
    plain: &BiasOp,
) {
    let (x_shape, w_shape, out_channels) = shapes;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (x0, w0) = (random(&x_shape, &mut rng), random(&w_shape, &mut rng));
    let b0 = random(&[out_channels], &mut rng);
    let run = |op: &BiasOp| {
        let (x, w, b) = (
            Var::from_tensor(&x0).unwrap(),
            Var::from_tensor(&w0).unwrap(),
            Var::from_tensor(&b0).unwrap(),
        );
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
        let y = op(xt, wt, bt).unwrap();
        let r = random(y.dims(), &mut ChaCha8Rng::seed_from_u64(seed + 1));
        let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let got = |t: &Tensor| grads.get(t).unwrap().clone();
        [y.clone(), got(xt), got(wt), got(bt)]
    };
    let (with_fast, with_plain) = (run(fast), run(plain));
    for (i, name) in ["output", "dX", "dW", "db"].iter().enumerate() {
        let rel = rel_l2(&with_fast[i], &with_plain[i]);
        assert!(
            rel < 1e-5,
            "x {x_shape:?} w {w_shape:?}: {name} differs, rel L2 {rel:.2e}"
        );
    }
    let x = Var::from_tensor(&x0).unwrap();
    let y = fast(x.as_tensor(), &w0, &b0).unwrap();
    assert!(rel_l2(&y, &with_fast[0]) < 1e-6);
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&b0).is_none() && grads.get(x.as_tensor()).is_some());
}

/// The bias inside the conv ops equals Candle's conv then a broadcast add, on odd sizes,
/// stride 2, batch > 1 and both sides of the weight gradient's 256-pixel switch.
#[test]
fn conv_with_bias_equals_conv_then_add() {
    let add = |y: Tensor, b: &Tensor| y.broadcast_add(&b.reshape((1, (), 1, 1))?);
    let cases = [
        ([2, 5, 11, 13], [7, 5, 3, 3], 1, 2),
        ([1, 3, 9, 7], [5, 3, 3, 3], 1, 1),
        ([3, 4, 20, 18], [9, 4, 4, 4], 1, 2),
    ];
    for (i, (x_shape, w_shape, pad, stride)) in cases.into_iter().enumerate() {
        compare_with_bias(
            (x_shape, w_shape, w_shape[0]),
            300 + i as u64,
            &|x, w, b| train_conv::conv2d_bias(x, w, b, pad, stride),
            &|x, w, b| add(x.conv2d(w, pad, stride, 1, 1)?, b),
        );
    }
    // With the activation inside: SPADE's mlp_shared (ReLU) and the discriminators' first
    // layer (leaky ReLU 0.2); then without a bias (the CustomOp2 form).
    let act = |y: Tensor, slope: f64| match slope {
        0.0 => y.relu(),
        _ => y.maximum(&(&y * slope)?),
    };
    for (i, slope) in [0.0, 0.2].into_iter().enumerate() {
        let (x_shape, w_shape) = ([2, 5, 11, 13], [7, 5, 4, 4]);
        compare_with_bias(
            (x_shape, w_shape, w_shape[0]),
            340 + i as u64,
            &|x, w, b| train_conv::conv2d_bias_act(x, w, Some(b), (2, 2), Some(slope)),
            &|x, w, b| act(add(x.conv2d(w, 2, 2, 1, 1)?, b)?, slope),
        );
        compare_op(
            [3, 4, 20, 18],
            [9, 4, 3, 3],
            350 + i as u64,
            &format!("no bias, slope {slope}"),
            &|x, w| train_conv::conv2d_bias_act(x, w, None, (1, 1), Some(slope)),
            &|x, w| act(x.conv2d(w, 1, 1, 1, 1)?, slope),
        );
    }
    // Transposed: pix2pix's U-Net decoder (k4 s2 p1) and pix2pixHD's upsampler (k3, out pad 1).
    let cases = [
        ([2, 8, 8, 8], [8, 5, 4, 4], (1, 0, 2)),
        ([1, 6, 7, 9], [6, 3, 3, 3], (1, 1, 2)),
        ([2, 4, 12, 12], [4, 6, 4, 4], (1, 0, 2)),
    ];
    for (i, (x_shape, w_shape, (pad, out_pad, stride))) in cases.into_iter().enumerate() {
        compare_with_bias(
            (x_shape, w_shape, w_shape[1]),
            320 + i as u64,
            &|x, w, b| train_conv::conv_transpose2d_bias(x, w, b, (pad, out_pad, stride)),
            &|x, w, b| add(x.conv_transpose2d(w, pad, out_pad, stride, 1)?, b),
        );
    }
}

/// One-hot label maps of `classes` classes in 4 x 5 blocks, with pix2pixHD's instance-edge
/// channel after them when `edges` (1 where the class changes to the right or below).
fn label_maps(
    n: usize,
    (classes, edges): (usize, bool),
    (h, w): (usize, usize),
    rng: &mut ChaCha8Rng,
) -> Tensor {
    let channels = classes + usize::from(edges);
    let mut values = vec![0f32; n * channels * h * w];
    for sample in values.chunks_exact_mut(channels * h * w) {
        let blocks: Vec<usize> = (0..h.div_ceil(4) * w.div_ceil(5))
            .map(|_| rng.random_range(0..classes))
            .collect();
        let class = |y: usize, x: usize| blocks[(y / 4) * w.div_ceil(5) + x / 5];
        for (y, x) in (0..h).flat_map(|y| (0..w).map(move |x| (y, x))) {
            sample[(class(y, x) * h + y) * w + x] = 1.0;
            let changes = (x + 1 < w && class(y, x + 1) != class(y, x))
                || (y + 1 < h && class(y + 1, x) != class(y, x));
            if edges && changes {
                sample[(classes * h + y) * w + x] = 1.0;
            }
        }
    }
    Tensor::from_vec(values, (n, channels, h, w), &Device::Cpu).unwrap()
}

/// Convolutions over one-hot label maps (pix2pixHD's first 7x7 layer over a padded map, SPADE's
/// mlp_shared) take their dW as scatter-adds by signature (`train_conv_lookup.rs`); with bias
/// and activation they equal Candle's conv then add, on batch > 1, zero padding 0 to 3, an
/// edge channel, 32 output channels (whole 16-lane blocks) and 3, 5 or 13 (element-wise).
#[test]
fn label_map_convolutions_equal_candle() {
    let cases = [
        (2, (8, true), (22, 19), [32, 9, 7, 7], 0, Some(0.0)),
        (1, (9, false), (17, 31), [13, 9, 3, 3], 1, Some(0.2)),
        (2, (6, false), (16, 20), [3, 6, 7, 7], 3, None),
        (3, (7, true), (12, 29), [5, 8, 5, 5], 2, None),
    ];
    for (i, (n, labels, size, w_shape, pad, slope)) in cases.into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(700 + i as u64);
        let x = label_maps(n, labels, size, &mut rng);
        let (w0, b0) = (random(&w_shape, &mut rng), random(&[w_shape[0]], &mut rng));
        let run = |fast: bool| {
            let (w, b) = (
                Var::from_tensor(&w0).unwrap(),
                Var::from_tensor(&b0).unwrap(),
            );
            let (wt, bt) = (w.as_tensor(), b.as_tensor());
            let y = if fast {
                train_conv::conv2d_bias_act(&x, wt, Some(bt), (pad, 1), slope).unwrap()
            } else {
                let y = x.conv2d(wt, pad, 1, 1, 1).unwrap();
                let y = y
                    .broadcast_add(&bt.reshape((1, (), 1, 1)).unwrap())
                    .unwrap();
                match slope {
                    Some(0.0) => y.relu().unwrap(),
                    Some(s) => y.maximum(&(&y * s).unwrap()).unwrap(),
                    None => y,
                }
            };
            let r = random(y.dims(), &mut ChaCha8Rng::seed_from_u64(800 + i as u64));
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let got = |t: &Tensor| grads.get(t).unwrap().clone();
            [y.clone(), got(wt), got(bt)]
        };
        let (fast, plain) = (run(true), run(false));
        for (j, name) in ["output", "dW", "db"].iter().enumerate() {
            let rel = rel_l2(&fast[j], &plain[j]);
            assert!(
                rel < 1e-5,
                "case {i} ({w_shape:?}): {name} differs, rel L2 {rel:.2e}"
            );
        }
    }
}

#[test]
fn a_strided_input_and_a_frozen_weight() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // A transposed view: not contiguous.
    let x = Var::from_tensor(&random(&[2, 3, 7, 9], &mut rng)).unwrap();
    let view = x.as_tensor().transpose(2, 3).unwrap();
    let frozen = random(&[4, 3, 3, 3], &mut rng);
    let fast = train_conv::conv2d(&view, &frozen, 1, 1).unwrap();
    let plain = view
        .contiguous()
        .unwrap()
        .conv2d(&frozen, 1, 1, 1, 1)
        .unwrap();
    assert!(rel_l2(&fast, &plain) < 1e-5);
    let grads = fast.sum_all().unwrap().backward().unwrap();
    assert!(
        grads.get(&frozen).is_none(),
        "a frozen weight gets no gradient"
    );
    let dx_fast = grads.get(x.as_tensor()).expect("input gradient").clone();
    let grads = plain.sum_all().unwrap().backward().unwrap();
    let dx_plain = grads.get(x.as_tensor()).unwrap();
    assert!(rel_l2(&dx_fast, dx_plain) < 1e-5);
}
