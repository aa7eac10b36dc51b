//! Convolutions for inference: im2col into the `gemm` crate, tile by tile on the current rayon
//! pool, with the bias, a residual and the activation applied while each tile is still in cache;
//! 3x3 stride-1 layers with enough channels and pixels through Winograd's F(4x4, 3x3)
//! (`winograd.rs`, the kernel transformed once per layer).
//! Padding (zero, reflection, replication) lives in per-axis gather tables (`gather.rs`), so
//! pix2pixHD's `ReflectionPad2d` + conv needs no padded copy. Transposed convolutions (`transpose.rs`) reuse
//! the same tiled product on their stride phases.
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use super::gather::{im2col, AxisTable, PadMode};
use super::gemm::{sgemm_into, sgemm_into_transposed, MatRef};
use super::planes::{PlaneView, Planes};
use super::winograd::{self, WinogradKernel};
use super::FastError;

/// The activation applied to a layer's output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu(f32),
    Tanh,
}

impl Activation {
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Self::Identity => v,
            Self::Relu => v.max(0.0),
            Self::LeakyRelu(slope) => {
                if v >= 0.0 {
                    v
                } else {
                    v * slope
                }
            }
            Self::Tanh => super::tanh::tanh(v),
        }
    }

    /// Applies the activation to every value of `values`.
    pub fn apply_slice(self, values: &mut [f32]) {
        match self {
            Self::Identity => {}
            Self::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Self::LeakyRelu(slope) => values.iter_mut().for_each(|v| {
                if *v < 0.0 {
                    *v *= slope
                }
            }),
            Self::Tanh => super::tanh::tanh_slice(values),
        }
    }
}

/// One task of a tiled product: output rows `[q0, q1)`, output channels `[m0, m1)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tile {
    pub q0: usize,
    pub q1: usize,
    pub m0: usize,
    pub m1: usize,
}

/// Splits `rows x cols` outputs of `m` channels with inner size `k` into tasks for the pool:
/// tiles small enough for the caches, enough of them for every thread.
pub(crate) fn plan_tiles(rows: usize, cols: usize, m: usize, k: usize) -> Vec<Tile> {
    const BUDGET: usize = 96 * 1024;
    let threads = rayon::current_num_threads().max(1);
    if m >= 4 * rows * cols && m >= 32 * threads {
        // Far more output channels than pixels (SPADE's 256-channel layers at 8x4): split the
        // channels, so each task reads its share of the weights once, instead of every row
        // tile reading all of them for 8 columns (0.55 -> 0.4 ms per layer at 8x4 on an AMD
        // Zen 3; at 16x8, 128 pixels for 256 channels, it lost: 1.1 -> 1.3 ms).
        let m_step = m.div_ceil(2 * threads).div_ceil(16) * 16;
        return (0..m)
            .step_by(m_step)
            .map(|m0| Tile {
                q0: 0,
                q1: rows,
                m0,
                m1: (m0 + m_step).min(m),
            })
            .collect();
    }
    let target_cols = (BUDGET / k.max(m).max(1)).max(64);
    let mut rows_per_tile = (target_cols / cols.max(1)).max(1);
    rows_per_tile = rows_per_tile.min(rows.div_ceil(2 * threads)).max(1);
    let row_tiles = rows.div_ceil(rows_per_tile);
    let m_chunks = if row_tiles >= threads {
        1
    } else {
        threads.div_ceil(row_tiles).min(m.div_ceil(16)).max(1)
    };
    let m_step = m.div_ceil(m_chunks);
    let mut tiles = Vec::with_capacity(row_tiles * m_chunks);
    for t in 0..row_tiles {
        let (q0, q1) = (t * rows_per_tile, ((t + 1) * rows_per_tile).min(rows));
        for mc in 0..m_chunks {
            let (m0, m1) = (mc * m_step, ((mc + 1) * m_step).min(m));
            if m1 > m0 {
                tiles.push(Tile { q0, q1, m0, m1 });
            }
        }
    }
    tiles
}

/// Below this many output channels a tile's product runs transposed (see
/// [`sgemm_into_transposed`]).
const FEW_CHANNELS: usize = 8;

/// The product `weight (m x k) * im2col(x)` over all output positions, tile by tile: each
/// finished tile (`m1 - m0` rows of `(q1 - q0) * cols.out_len` values) goes to `place`.
pub(crate) fn tiled_product(
    x: PlaneView,
    rows: &AxisTable,
    cols: &AxisTable,
    weight: &[f32],
    m: usize,
    place: impl Fn(Tile, &[f32]) + Sync,
) {
    let k = x.channels * rows.taps * cols.taps;
    debug_assert_eq!(weight.len(), m * k);
    let direct = rows.is_identity(x.height) && cols.is_identity(x.width);
    let tiles = plan_tiles(rows.out_len, cols.out_len, m, k);
    tiles.par_iter().for_each(|tile| {
        with_tile_buffers(|col, out| {
            let nt = (tile.q1 - tile.q0) * cols.out_len;
            let rhs = if direct {
                // A 1x1 stride-1 convolution reads its input as the matrix (channels x pixels).
                MatRef {
                    data: &x.data[tile.q0 * x.width..],
                    rows: k,
                    cols: nt,
                    row_stride: x.plane_len(),
                    col_stride: 1,
                }
            } else {
                let col = scratch_slice(col, k * nt);
                im2col(x, rows, cols, tile.q0, tile.q1, col);
                MatRef::row_major(col, k, nt)
            };
            let lhs = MatRef::row_major(&weight[tile.m0 * k..tile.m1 * k], tile.m1 - tile.m0, k);
            let out = scratch_slice(out, (tile.m1 - tile.m0) * nt);
            if tile.m1 - tile.m0 < FEW_CHANNELS {
                sgemm_into_transposed(out, lhs, rhs);
            } else {
                sgemm_into(out, lhs, rhs, false);
            }
            place(*tile, out);
        })
    });
}

/// `buf`'s first `len` values as scratch the caller overwrites entirely: the buffer only
/// grows (zeroing just what it adds), so a reused buffer costs no fill.
pub(crate) fn scratch_slice(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

thread_local! {
    /// Each pool thread's im2col and product buffers, kept between tiles and calls: fresh
    /// ones per task were zero-filled on every resize (3 % of a pix2pix-compact step).
    static TILE_BUFFERS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's tile buffers, or fresh ones when they are in use (a task that
/// waits inside a tile can run another tile on the same thread).
fn with_tile_buffers<R>(f: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>) -> R) -> R {
    TILE_BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => {
            let (col, out) = &mut *buffers;
            f(col, out)
        }
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// What happens to a convolution's raw output: bias, then an optional residual, then the
/// activation.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    pub residual: Option<&'a Planes>,
    pub activation: Activation,
}

impl Epilogue<'_> {
    pub const fn activation(activation: Activation) -> Self {
        Epilogue {
            residual: None,
            activation,
        }
    }
}

/// `nn.Conv2d` for inference (with any padding layer before it folded in).
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub pad_mode: PadMode,
    /// (out, in * kernel * kernel), PyTorch's OIHW flattened.
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    /// The weight in Winograd's domain, transformed on the first frame that uses it.
    winograd: OnceLock<Arc<WinogradKernel>>,
}

impl Conv2d {
    /// `weight` in PyTorch's OIHW order; no bias is a zero bias.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        (padding, pad_mode): (usize, PadMode),
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
    ) -> Result<Self, FastError> {
        let expected = out_channels * in_channels * kernel * kernel;
        if weight.len() != expected || stride == 0 {
            return Err(FastError::shape(
                "conv weight",
                format!("{out_channels}x{in_channels}x{kernel}x{kernel} values, stride >= 1"),
                format!("{} values, stride {stride}", weight.len()),
            ));
        }
        let bias = bias.unwrap_or_else(|| vec![0.0; out_channels]);
        if bias.len() != out_channels {
            return Err(FastError::shape("conv bias", out_channels, bias.len()));
        }
        Ok(Self {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            pad_mode,
            weight,
            bias,
            winograd: OnceLock::new(),
        })
    }

    /// Folds a following per-channel `y * scale + shift` (batch norm in eval mode) into the
    /// weights and bias.
    pub fn fold_affine(&mut self, scale: &[f32], shift: &[f32]) {
        let k = self.weight.len() / self.out_channels.max(1);
        for (o, row) in self.weight.chunks_exact_mut(k).enumerate() {
            row.iter_mut().for_each(|w| *w *= scale[o]);
            self.bias[o] = self.bias[o] * scale[o] + shift[o];
        }
        self.winograd = OnceLock::new();
    }

    pub fn output_size(&self, height: usize, width: usize) -> Result<(usize, usize), FastError> {
        let span = |len: usize| {
            (len + 2 * self.padding)
                .checked_sub(self.kernel)
                .map(|s| s / self.stride + 1)
        };
        match (span(height), span(width)) {
            (Some(h), Some(w)) => Ok((h, w)),
            _ => Err(FastError::shape(
                "conv input",
                format!("sides of at least {} - 2 * {}", self.kernel, self.padding),
                format!("{height}x{width}"),
            )),
        }
    }

    /// The row and column gather tables for a `height x width` input (their `out_len`s are the
    /// output size), after checking that a residual in `epilogue` has the output's shape.
    pub(crate) fn axis_tables(
        &self,
        height: usize,
        width: usize,
        epilogue: Epilogue,
    ) -> Result<(AxisTable, AxisTable), FastError> {
        let (h, w) = self.output_size(height, width)?;
        if let Some(r) = epilogue.residual {
            if (r.channels, r.height, r.width) != (self.out_channels, h, w) {
                return Err(FastError::shape(
                    "residual",
                    format!("{}x{h}x{w}", self.out_channels),
                    format!("{}x{}x{}", r.channels, r.height, r.width),
                ));
            }
        }
        let axis = |len_in, len_out| {
            AxisTable::conv(
                len_in,
                len_out,
                self.kernel,
                self.stride,
                self.padding,
                self.pad_mode,
            )
        };
        Ok((axis(height, h)?, axis(width, w)?))
    }

    pub fn forward(&self, x: &Planes, epilogue: Epilogue) -> Result<Planes, FastError> {
        if x.channels != self.in_channels {
            return Err(FastError::shape(
                "conv input channels",
                self.in_channels,
                x.channels,
            ));
        }
        let (rows, cols) = self.axis_tables(x.height, x.width, epilogue)?;
        if let Some(out) = self.forward_winograd(x, epilogue, (rows.out_len, cols.out_len)) {
            return Ok(out);
        }
        Ok(convolve(
            x,
            &rows,
            &cols,
            &self.weight,
            &self.bias,
            epilogue,
        ))
    }
}

impl Conv2d {
    /// The layer through Winograd's F(4x4, 3x3) where it is one (3x3, stride 1, zero padding)
    /// and pays ([`winograd::pays_at_inference`]); `None` otherwise.
    fn forward_winograd(
        &self,
        x: &Planes,
        epilogue: Epilogue,
        out_hw: (usize, usize),
    ) -> Option<Planes> {
        let zero_padded = self.padding == 0 || self.pad_mode == PadMode::Zero;
        let shape_fits = self.kernel == 3 && self.stride == 1 && self.padding <= 2 && zero_padded;
        if !shape_fits || !winograd::pays_at_inference(self.in_channels, self.out_channels, out_hw)
        {
            return None;
        }
        let kernel = self.winograd.get_or_init(|| {
            let kernel = WinogradKernel::forward(&self.weight, self.out_channels, self.in_channels);
            Arc::new(kernel)
        });
        let input = winograd::Input {
            n: 1,
            channels: x.channels,
            height: x.height,
            width: x.width,
            padding: self.padding,
        };
        let mut out = Planes::zeros(self.out_channels, out_hw.0, out_hw.1);
        let residual = epilogue.residual.map(|r| r.data.as_slice());
        winograd::convolve_residual(
            kernel,
            &x.data,
            input,
            &self.bias,
            (residual, epilogue.activation),
            &mut out.data,
        );
        Some(out)
    }
}

/// The convolution `weight (bias.len() x k)` of `x` read through the gather tables `rows` and
/// `cols` (their `out_len`s are the output size), with `epilogue` applied: the one product
/// behind every dense convolution of the fast path, square kernel or not. A residual in
/// `epilogue` must have the output's shape (checked by the callers).
pub(crate) fn convolve(
    x: &Planes,
    rows: &AxisTable,
    cols: &AxisTable,
    weight: &[f32],
    bias: &[f32],
    epilogue: Epilogue,
) -> Planes {
    let mut out = Planes::zeros(bias.len(), rows.out_len, cols.out_len);
    convolve_into(x.view(), rows, cols, weight, bias, epilogue, &mut out.data);
    out
}

/// [`convolve`] into `out`, a (bias.len(), rows.out_len, cols.out_len) slice of a batch.
pub(crate) fn convolve_into(
    x: PlaneView,
    rows: &AxisTable,
    cols: &AxisTable,
    weight: &[f32],
    bias: &[f32],
    epilogue: Epilogue,
    out: &mut [f32],
) {
    let (h, w) = (rows.out_len, cols.out_len);
    let plane = h * w;
    assert_eq!(
        out.len(),
        bias.len() * plane,
        "convolve_into: output slice size"
    );
    let dst = super::gemm::SharedMut(out.as_mut_ptr());
    tiled_product(x, rows, cols, weight, bias.len(), |tile, values| {
        let nt = (tile.q1 - tile.q0) * w;
        for (o, src) in (tile.m0..tile.m1).zip(values.chunks_exact(nt)) {
            let start = o * plane + tile.q0 * w;
            // SAFETY: tiles cover disjoint (channel, row) ranges of `out`, which outlives
            // the product; this task alone writes out[start..start + nt].
            let row = unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(start), nt) };
            let residual = epilogue.residual.map(|r| &r.data[start..start + nt]);
            finish_row(row, src, bias[o], residual, epilogue.activation);
        }
    });
}

/// `dst = act(src + bias [+ residual])`.
#[inline]
pub(crate) fn finish_row(
    dst: &mut [f32],
    src: &[f32],
    bias: f32,
    residual: Option<&[f32]>,
    activation: Activation,
) {
    match residual {
        Some(r) => {
            for ((d, s), r) in dst.iter_mut().zip(src).zip(r) {
                *d = s + bias + r;
            }
        }
        None => {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s + bias;
            }
        }
    }
    // Over the finished row, where each activation's loop is vector code.
    activation.apply_slice(dst);
}

#[cfg(test)]
mod tests;
