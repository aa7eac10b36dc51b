//! The layers Candle 0.11 lacks, written once for all three families: reflection padding,
//! nearest and bilinear resizing, and the `count_include_pad=False` average pool of pix2pixHD
//! (the norms and dropout are in `norms.rs`, the convolutions in `conv_layers.rs`, both
//! re-exported here). On the fast training path the padding, the pool and the activations are
//! our own ops (`fast::train_pad`, `fast::train_pool`, `fast::train_ops`).
//!
//! Everything here is built from ops whose gradients were checked on this machine
//! (`../shared/notes/candle-0.11-facts.md`): `index_select`, conv2d with groups, matmul,
//! broadcast arithmetic. Candle's own `upsample_nearest2d`, bilinear resize and padded pools
//! have missing or wrong backward passes, so they are avoided on any path that trains.
use candle_core::{Device, Result, Tensor};

pub use super::conv_layers::{
    add_channel_bias, count_conv_flops, with_frozen_weights, Conv2d, ConvGeometry, ConvTranspose2d,
    MaybeSpectralConv2d, SpectralConv2d,
};
pub use super::norms::{instance_norm, BatchNorm2d, Dropout, Norm2d, NormKind};
pub(crate) use super::norms::{per_channel, update_buffer};

/// Names of tensors that are state, not parameters: never handed to an optimizer.
pub fn is_buffer_name(name: &str) -> bool {
    [
        "running_mean",
        "running_var",
        "num_batches_tracked",
        "weight_u",
        "weight_v",
    ]
    .iter()
    .any(|suffix| name.ends_with(suffix))
}

fn index_tensor(indices: &[u32], device: &Device) -> Result<Tensor> {
    Tensor::from_slice(indices, indices.len(), device)
}

/// Source index of each padded position for PyTorch's `ReflectionPad2d` (edge not repeated).
pub(crate) fn reflect_indices(len: usize, pad: usize) -> Vec<u32> {
    let last = len as i64 - 1;
    (-(pad as i64)..(len + pad) as i64)
        .map(|i| {
            let reflected = if i < 0 {
                -i
            } else if i > last {
                2 * last - i
            } else {
                i
            };
            reflected as u32
        })
        .collect()
}

/// `nn.ReflectionPad2d(pad)` on an NCHW tensor: one fused op when training on the fast path.
pub fn reflection_pad2d(x: &Tensor, pad: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if pad >= h || pad >= w {
        candle_core::bail!("reflection pad {pad} needs a spatial size above it, found {h}x{w}")
    }
    if super::fast::train_norm::fused_for(x) {
        return super::fast::train_pad::reflection_pad2d(x, pad);
    }
    reflection_pad2d_plain(x, pad)
}

/// The plain Candle form of [`reflection_pad2d`]: two `index_select`s.
pub(crate) fn reflection_pad2d_plain(x: &Tensor, pad: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let rows = index_tensor(&reflect_indices(h, pad), x.device())?;
    let cols = index_tensor(&reflect_indices(w, pad), x.device())?;
    x.index_select(&rows, 2)?.index_select(&cols, 3)
}

/// `F.interpolate(x, size=(out_h, out_w), mode="nearest")`: source = floor(dst * in / out).
pub fn resize_nearest(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if (h, w) == (out_h, out_w) {
        return Ok(x.clone());
    }
    let pick = |len_in: usize, len_out: usize| -> Vec<u32> {
        (0..len_out)
            .map(|i| ((i * len_in) / len_out).min(len_in - 1) as u32)
            .collect()
    };
    let rows = index_tensor(&pick(h, out_h), x.device())?;
    let cols = index_tensor(&pick(w, out_w), x.device())?;
    x.index_select(&rows, 2)?.index_select(&cols, 3)
}

/// Source taps of PyTorch's bilinear resize (`align_corners=False`) along one axis: for each
/// output position, the two input positions and the second one's weight. The one statement of
/// the rule: the Candle resize below and the fast path's (`fast::ops`) both read it.
pub fn bilinear_taps(len_in: usize, len_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = len_in as f64 / len_out as f64;
    (0..len_out)
        .map(|dst| {
            let src = ((dst as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(len_in - 1);
            let i1 = (i0 + 1).min(len_in - 1);
            (i0, i1, (src - i0 as f64) as f32)
        })
        .collect()
}

/// Interpolation matrix (out, in) of PyTorch's bilinear resize with `align_corners=False`.
fn bilinear_matrix(len_in: usize, len_out: usize, device: &Device) -> Result<Tensor> {
    let mut weights = vec![0f32; len_out * len_in];
    for (dst, (i0, i1, frac)) in bilinear_taps(len_in, len_out).into_iter().enumerate() {
        weights[dst * len_in + i0] += 1.0 - frac;
        weights[dst * len_in + i1] += frac;
    }
    Tensor::from_vec(weights, (len_out, len_in), device)
}

/// `F.interpolate(x, size, mode="bilinear", align_corners=False)` as two matmuls, so it has a
/// gradient (Candle's bilinear resize has none).
pub fn resize_bilinear(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if (h, w) == (out_h, out_w) {
        return Ok(x.clone());
    }
    let rows = bilinear_matrix(h, out_h, x.device())?;
    let cols = bilinear_matrix(w, out_w, x.device())?;
    resample_separable(x, &rows, &cols)
}

/// `x` (N, C, H, W) resampled by a matrix per axis, `rows` (out_h, H) and `cols` (out_w, W):
/// two matmuls, which have gradients and run on every device.
pub fn resample_separable(x: &Tensor, rows: &Tensor, cols: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (out_h, out_w) = (rows.dim(0)?, cols.dim(0)?);
    let rows = rows.to_dtype(x.dtype())?;
    let cols = cols.to_dtype(x.dtype())?;
    let flat = x.reshape((n * c, h, w))?;
    let along_w = flat.broadcast_matmul(&cols.t()?)?;
    let along_h = rows.broadcast_matmul(&along_w)?;
    along_h.reshape((n, c, out_h, out_w))
}

/// `nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`: pix2pixHD's downsampler,
/// as a depthwise convolution with a ones kernel divided by the count of real pixels.
pub fn avg_pool3_s2_exclude_pad(x: &Tensor) -> Result<Tensor> {
    if super::fast::train_norm::fused_for(x) {
        return super::fast::train_pool::avg_pool3_s2_exclude_pad(x);
    }
    avg_pool3_s2_exclude_pad_plain(x)
}

/// The plain Candle form of [`avg_pool3_s2_exclude_pad`]: window sums by a depthwise
/// convolution of ones, divided by the same convolution of a ones image (the real-pixel count).
pub(crate) fn avg_pool3_s2_exclude_pad_plain(x: &Tensor) -> Result<Tensor> {
    let (_, c, h, w) = x.dims4()?;
    let ones_kernel = Tensor::ones((c, 1, 3, 3), x.dtype(), x.device())?;
    let sums = x.conv2d(&ones_kernel, 1, 2, 1, c)?;
    let ones_image = Tensor::ones((1, 1, h, w), x.dtype(), x.device())?;
    let counts = ones_image.conv2d(&ones_kernel.narrow(0, 0, 1)?, 1, 2, 1, 1)?;
    sums.broadcast_div(&counts)
}

/// `nn.LeakyReLU(slope)` built from ops with a checked gradient.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if super::fast::train_norm::fused_for(x) {
        return super::fast::train_ops::leaky_relu(x, slope);
    }
    x.maximum(&(x * slope)?)
}

/// `nn.Upsample(scale_factor=2)` (nearest), as one op with its own backward when `x` trains
/// on the fast path.
pub fn upsample_nearest2x(x: &Tensor) -> Result<Tensor> {
    if super::fast::train_norm::fused_for(x) {
        return super::fast::train_ops::upsample_nearest2x(x);
    }
    let (_, _, h, w) = x.dims4()?;
    resize_nearest(x, 2 * h, 2 * w)
}

/// `x.relu()`, as one op with its own backward when `x` trains on the fast path.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if super::fast::train_norm::fused_for(x) {
        return super::fast::train_ops::leaky_relu(x, 0.0);
    }
    x.relu()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn reflect_indices_match_pytorch_reflection_pad() {
        // ReflectionPad2d(2) of [a b c d] is [c b a b c d c b].
        assert_eq!(reflect_indices(4, 2), vec![2, 1, 0, 1, 2, 3, 2, 1]);
    }

    #[test]
    fn bilinear_matrix_rows_sum_to_one_and_halving_averages_pairs() {
        let m = bilinear_matrix(4, 2, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        // align_corners=False halving samples at 0.5 and 2.5: the mean of each pair.
        assert_eq!(m, vec![vec![0.5, 0.5, 0.0, 0.0], vec![0.0, 0.0, 0.5, 0.5]]);
    }

    #[test]
    fn avg_pool_excludes_padding_from_the_count() {
        let x = Tensor::ones((1, 2, 5, 6), DType::F32, &Device::Cpu).unwrap();
        let pooled = avg_pool3_s2_exclude_pad(&x).unwrap();
        assert_eq!(pooled.dims4().unwrap(), (1, 2, 3, 3));
        let values = pooled.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(values.iter().all(|v| (v - 1.0).abs() < 1e-6), "{values:?}");
    }
}
