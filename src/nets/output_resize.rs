//! The generated image brought to the painting's size: cubic convolution (Keys 1981, "Cubic
//! convolution interpolation for digital image processing", a = -0.5, the Catmull-Rom
//! spline), separable, as one (out x in) matrix per axis: applied with two matmuls on a GPU
//! (the device the generator ran on), by each output's few nonzero taps on the CPU. When an axis shrinks, the kernel is stretched by
//! the ratio so every input pixel is averaged in (no aliasing); when it grows, the kernel keeps
//! its four taps. Taps beyond the border repeat the edge pixel, and each row's weights sum to
//! 1, so a constant stays constant and the colour transfer (`style_colours`, affine) commutes
//! with it.
//!
//! The models generate at 256x128 and the painting is usually larger: the bilinear
//! enlargement used before blurred every edge a second time, and scored 4-5 held-out FID worse
//! on the same generated pixels (docs/bench/output-resize-2026-12-07-s17.txt).
use candle_core::{Device, Result, Tensor};

/// Keys' free parameter: -0.5 makes the kernel reproduce quadratics (Catmull-Rom).
const KEYS_A: f64 = -0.5;

/// Keys' cubic convolution kernel, nonzero on (-2, 2).
fn cubic(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        ((KEYS_A + 2.0) * x - (KEYS_A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * KEYS_A
    } else {
        0.0
    }
}

/// The (len_out x len_in) resampling matrix of one axis, row-major: pixel centres aligned
/// (`align_corners=False`), taps past the border on the edge pixel, each row summing to 1.
pub fn cubic_matrix(len_in: usize, len_out: usize) -> Vec<f32> {
    let mut weights = vec![0f32; len_out * len_in];
    if len_in == 0 {
        return weights;
    }
    let scale = len_in as f64 / len_out as f64;
    let stretch = scale.max(1.0);
    let reach = 2.0 * stretch;
    for (dst, row) in weights.chunks_exact_mut(len_in).enumerate() {
        let centre = (dst as f64 + 0.5) * scale - 0.5;
        let taps: Vec<(usize, f64)> = ((centre - reach).floor() as i64
            ..=(centre + reach).ceil() as i64)
            .map(|i| {
                let clamped = i.clamp(0, len_in as i64 - 1) as usize;
                (clamped, cubic((i as f64 - centre) / stretch))
            })
            .collect();
        let total: f64 = taps.iter().map(|(_, w)| w).sum();
        for (i, w) in taps {
            row[i] += (w / total) as f32;
        }
    }
    weights
}

fn matrix(len_in: usize, len_out: usize, device: &Device) -> Result<Tensor> {
    Tensor::from_vec(cubic_matrix(len_in, len_out), (len_out, len_in), device)
}

/// `x` (N, C, H, W) resampled to `out_h` x `out_w` by cubic convolution; `x` itself when the
/// size is already that. Two matmuls of mostly-zero matrices: at the painter's 256x128 ->
/// 512x256 they cost no measurable time beside the frame (a sparse version measured level).
pub fn resize_cubic(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if (h, w) == (out_h, out_w) {
        return Ok(x.clone());
    }
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let out = resize_planes(&values, (h, w), (out_h, out_w));
        return Tensor::from_vec(out, (n, c, out_h, out_w), x.device());
    }
    let rows = matrix(h, out_h, x.device())?;
    let cols = matrix(w, out_w, x.device())?;
    super::layers::resample_separable(x, &rows, &cols)
}

/// One axis's matrix as each output's nonzero span: (first input, its weights).
fn spans(len_in: usize, len_out: usize) -> Vec<(usize, Vec<f32>)> {
    let matrix = cubic_matrix(len_in, len_out);
    matrix
        .chunks_exact(len_in.max(1))
        .map(|row| {
            let first = row.iter().position(|&v| v != 0.0).unwrap_or(0);
            let last = row.iter().rposition(|&v| v != 0.0).map_or(first, |i| i + 1);
            (first, row[first..last].to_vec())
        })
        .collect()
}

/// [`resize_cubic`] of planes of `(h, w)` values on the CPU: the same matrices, each
/// output reading only its few nonzero taps (the dense matmuls took about 2 ms of a 512x256
/// preview frame). Along the width first, as the matmuls do.
pub fn resize_planes(
    values: &[f32],
    (h, w): (usize, usize),
    (out_h, out_w): (usize, usize),
) -> Vec<f32> {
    let planes = values.len() / (h * w).max(1);
    let (cols, rows) = (spans(w, out_w), spans(h, out_h));
    let mut along_w = vec![0f32; planes * h * out_w];
    for (src, dst) in values.chunks_exact(w).zip(along_w.chunks_exact_mut(out_w)) {
        for (d, (first, weights)) in dst.iter_mut().zip(&cols) {
            *d = weights.iter().zip(&src[*first..]).map(|(a, b)| a * b).sum();
        }
    }
    let mut out = vec![0f32; planes * out_h * out_w];
    for (src, dst) in along_w
        .chunks_exact(h * out_w)
        .zip(out.chunks_exact_mut(out_h * out_w))
    {
        for (row, (first, weights)) in dst.chunks_exact_mut(out_w).zip(&rows) {
            for (r, &weight) in weights.iter().enumerate() {
                let line = &src[(first + r) * out_w..][..out_w];
                row.iter_mut().zip(line).for_each(|(o, v)| *o += weight * v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize_row(values: &[f32], len_out: usize) -> Vec<f32> {
        let m = cubic_matrix(values.len(), len_out);
        m.chunks_exact(values.len())
            .map(|row| row.iter().zip(values).map(|(w, v)| w * v).sum())
            .collect()
    }

    #[test]
    fn rows_sum_to_one_up_and_down() {
        for (len_in, len_out) in [(4, 8), (128, 272), (272, 128), (5, 3), (3, 7), (1, 4)] {
            let m = cubic_matrix(len_in, len_out);
            for row in m.chunks_exact(len_in) {
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{len_in}->{len_out}: {sum}");
            }
        }
    }

    #[test]
    fn the_kernel_is_catmull_rom() {
        assert_eq!(cubic(0.0), 1.0);
        assert_eq!((cubic(1.0), cubic(2.0), cubic(2.5)), (0.0, 0.0, 0.0));
        assert!((cubic(0.5) - 0.5625).abs() < 1e-12);
        assert!((cubic(1.5) + 0.0625).abs() < 1e-12);
    }

    #[test]
    fn doubling_reproduces_a_ramp_away_from_the_edges() {
        let ramp: Vec<f32> = (0..16).map(|i| i as f32 * 0.1).collect();
        let doubled = resize_row(&ramp, 32);
        // Output pixel j sits at input position (j + 0.5) / 2 - 0.5.
        for (j, v) in doubled.iter().enumerate().take(28).skip(4) {
            let expected = ((j as f32 + 0.5) / 2.0 - 0.5) * 0.1;
            assert!((v - expected).abs() < 1e-5, "{j}: {v} vs {expected}");
        }
    }

    #[test]
    fn an_edge_stays_sharper_than_bilinear() {
        let step: Vec<f32> = (0..16).map(|i| if i < 8 { 0.0 } else { 1.0 }).collect();
        let cubic4 = resize_row(&step, 64);
        let bilinear4: Vec<f32> = super::super::layers::bilinear_taps(16, 64)
            .into_iter()
            .map(|(i0, i1, frac)| step[i0] * (1.0 - frac) + step[i1] * frac)
            .collect();
        let ramp_width = |values: &[f32]| values.iter().filter(|v| **v > 0.1 && **v < 0.9).count();
        assert!(
            ramp_width(&cubic4) < ramp_width(&bilinear4),
            "{cubic4:?} vs {bilinear4:?}"
        );
    }

    #[test]
    fn shrinking_averages_a_fine_pattern_away() {
        let stripes: Vec<f32> = (0..64)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let quarter = resize_row(&stripes, 16);
        assert!(
            quarter.iter().skip(1).take(14).all(|v| v.abs() < 0.05),
            "{quarter:?}"
        );
    }

    #[test]
    fn the_cpu_path_equals_the_matmuls() {
        let device = Device::Cpu;
        for (h, w, out_h, out_w) in [
            (128, 256, 256, 512),
            (128, 256, 272, 512),
            (64, 32, 41, 19),
            (5, 7, 12, 20),
        ] {
            let values: Vec<f32> = (0..2 * 3 * h * w)
                .map(|v| ((v * 37 % 101) as f32 / 50.0) - 1.0)
                .collect();
            let x = Tensor::from_vec(values.clone(), (2, 3, h, w), &device).unwrap();
            let fast = resize_cubic(&x, out_h, out_w)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let rows = matrix(h, out_h, &device).unwrap();
            let cols = matrix(w, out_w, &device).unwrap();
            let dense = super::super::layers::resample_separable(&x, &rows, &cols).unwrap();
            let dense = dense.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(fast.len(), dense.len());
            let worst = fast
                .iter()
                .zip(&dense)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{h}x{w} -> {out_h}x{out_w}: {worst}");
        }
    }

    #[test]
    fn a_tensor_resizes_per_channel_and_keeps_its_size_when_asked_to() {
        let device = Device::Cpu;
        let x = Tensor::from_vec(
            (0..2 * 3 * 4 * 6).map(|v| v as f32).collect::<Vec<_>>(),
            (2, 3, 4, 6),
            &device,
        )
        .unwrap();
        assert_eq!(
            resize_cubic(&x, 4, 6).unwrap().dims4().unwrap(),
            (2, 3, 4, 6)
        );
        let constant = Tensor::full(0.25f32, (1, 3, 5, 7), &device).unwrap();
        let big = resize_cubic(&constant, 12, 20).unwrap();
        assert_eq!(big.dims4().unwrap(), (1, 3, 12, 20));
        let values = big.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(values.iter().all(|v| (v - 0.25).abs() < 1e-6));
    }
}
