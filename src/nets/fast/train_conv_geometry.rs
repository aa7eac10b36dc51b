//! The shapes of a training convolution (`Dims`, `Geometry`) and the choice of kernel for its
//! forward and each gradient: the few-channel and direct loops, the label-map lookup, the
//! Winograd kernels, or the im2col tiles into `gemm` (`super::train_conv` is the Candle op
//! around them; issue 13).
use super::conv::{convolve_into, Activation, Epilogue};
use super::gather::{AxisTable, PadMode};
use super::gemm::MatRef;
use super::planes::PlaneView;
use super::train_conv_backward::{BatchBackward, WeightGradLayout};
use super::train_conv_direct as direct;
use super::train_conv_few as few;
use super::train_conv_input_grad::{input_gradient, splits_by_channels};
use super::train_conv_lookup as lookup;
use super::train_conv_weight_grad::{splits_by_columns, weight_gradient};
use super::winograd;

/// Stride and zero padding of a convolution.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) stride: usize,
    pub(super) padding: usize,
}

/// The shapes of one convolution `(n, c, h, w) -> (n, o, oh, ow)` with a `k x k` kernel.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dims {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) k: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
}

impl Dims {
    /// A sample's output rows cut into steps of at most `budget` values of a buffer holding
    /// `per_pixel` values per output pixel (at least one row each), as equal as can be: 16
    /// rows under a budget of 14 as 8 + 8, not 14 + 2.
    pub(super) fn output_row_steps(
        &self,
        per_pixel: usize,
        budget: usize,
    ) -> impl Iterator<Item = (usize, usize)> {
        let oh = self.oh;
        let most_rows = (budget / (per_pixel * self.ow).max(1)).clamp(1, oh.max(1));
        let per_step = oh.div_ceil(oh.div_ceil(most_rows)).max(1);
        (0..oh)
            .step_by(per_step)
            .map(move |q0| (q0, (q0 + per_step).min(oh)))
    }

    /// Output rows `[q0, q1)` of sample `i` of `grad` (n, o, oh, ow) as an (o x pixels)
    /// matrix.
    pub(super) fn output_rows<'a>(
        &self,
        grad: &'a [f32],
        i: usize,
        (q0, q1): (usize, usize),
    ) -> MatRef<'a> {
        let plane_out = self.oh * self.ow;
        MatRef {
            data: &grad[i * self.o * plane_out + q0 * self.ow..],
            rows: self.o,
            cols: (q1 - q0) * self.ow,
            row_stride: plane_out,
            col_stride: 1,
        }
    }

    /// One input sample of these shapes, borrowed.
    pub(super) fn view<'a>(&self, sample: &'a [f32]) -> PlaneView<'a> {
        PlaneView {
            channels: self.c,
            height: self.h,
            width: self.w,
            data: sample,
        }
    }
}

impl Geometry {
    /// The convolution of an `x` of shape `x` by a weight of shape `w` (O, C, k, k), checked.
    pub(super) fn conv_dims(&self, x: &[usize], w: &[usize]) -> candle_core::Result<Dims> {
        let (&[n, c, h, wd], &[o, ci, kh, kw]) = (x, w) else {
            candle_core::bail!("fast conv2d: expected 4-d input and weight, found {x:?} and {w:?}")
        };
        if ci != c || kh != kw || self.stride == 0 {
            candle_core::bail!(
                "fast conv2d: input {x:?} and weight {w:?} (stride {}) do not fit",
                self.stride
            )
        }
        let side = |len: usize| {
            (len + 2 * self.padding)
                .checked_sub(kh)
                .map(|s| s / self.stride + 1)
        };
        let (Some(oh), Some(ow)) = (side(h), side(wd)) else {
            candle_core::bail!(
                "fast conv2d: input {h}x{wd} is smaller than the {kh}x{kh} kernel with padding {}",
                self.padding
            )
        };
        Ok(Dims {
            n,
            c,
            h,
            w: wd,
            o,
            k: kh,
            oh,
            ow,
        })
    }

    /// The Winograd kernels' description of `d`'s input (their convolutions are stride 1).
    pub(super) fn input(&self, d: &Dims) -> super::winograd::Input {
        super::winograd::Input {
            n: d.n,
            channels: d.c,
            height: d.h,
            width: d.w,
            padding: self.padding,
        }
    }

    /// The row and column gather tables of `d`.
    fn tables(&self, d: &Dims) -> candle_core::Result<(AxisTable, AxisTable)> {
        let axis =
            |len, out| AxisTable::conv(len, out, d.k, self.stride, self.padding, PadMode::Zero);
        let map = |e: super::FastError| candle_core::Error::Msg(e.to_string());
        Ok((axis(d.h, d.oh).map_err(map)?, axis(d.w, d.ow).map_err(map)?))
    }

    /// `conv(x, weight)` of a batch (`x` in (n, c, h, w) order, the result in (n, o, oh, ow)).
    pub(super) fn forward(
        &self,
        d: &Dims,
        x: &[f32],
        weight: &[f32],
    ) -> candle_core::Result<Vec<f32>> {
        let zero_bias = vec![0.0; d.o];
        self.forward_with(d, x, weight, &zero_bias, Activation::Identity)
    }

    /// `activation(conv(x, weight) + bias)` of a batch, the bias and activation applied as each
    /// tile of the product is placed.
    pub(super) fn forward_with(
        &self,
        d: &Dims,
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
        activation: Activation,
    ) -> candle_core::Result<Vec<f32>> {
        let (rows, cols) = self.tables(d)?;
        let (per_in, per_out) = (d.c * d.h * d.w, d.o * d.oh * d.ow);
        if x.len() != d.n * per_in || weight.len() != d.o * d.c * d.k * d.k {
            candle_core::bail!(
                "fast conv2d: {} input and {} weight values for {d:?}",
                x.len(),
                weight.len()
            )
        }
        if few::takes_forward(d, self.stride) {
            return Ok(few::forward(d, self.padding, (x, weight, bias), activation));
        }
        if direct::takes_forward(d, self.stride) {
            return Ok(direct::forward(
                d,
                self.padding,
                (x, weight, bias),
                activation,
            ));
        }
        if d.k == 3 && self.stride == 1 {
            if let Some(out) = winograd::forward(x, self.input(d), weight, bias, activation) {
                return Ok(out);
            }
        }
        let mut out = vec![0f32; d.n * per_out];
        if per_out == 0 {
            return Ok(out);
        }
        for (sample, y) in x
            .chunks_exact(per_in.max(1))
            .zip(out.chunks_exact_mut(per_out))
        {
            convolve_into(
                d.view(sample),
                &rows,
                &cols,
                weight,
                bias,
                Epilogue::activation(activation),
                y,
            );
        }
        Ok(out)
    }

    /// The gradients of `conv(x, weight)` for the output gradient `grad`: `dW` summed over
    /// the batch (needs `x`) and `dX` per sample, each only when asked for.
    pub(super) fn backward(
        &self,
        d: &Dims,
        x: Option<&[f32]>,
        weight: &[f32],
        grad: &[f32],
        (want_dw, want_dx): (bool, bool),
    ) -> candle_core::Result<Gradients> {
        let want_dw = want_dw && x.is_some();
        if want_dx && d.k == 3 && self.stride == 1 && grad.len() == d.n * d.o * d.oh * d.ow {
            if let Some(dx) = winograd::input_gradient(grad, self.input(d), weight, d.o) {
                let (dw, _) = self.backward(d, x, weight, grad, (want_dw, false))?;
                return Ok((dw, Some(dx)));
            }
        }
        let (rows, cols) = self.tables(d)?;
        let (per_in, per_out) = (d.c * d.h * d.w, d.o * d.oh * d.ow);
        if grad.len() != d.n * per_out || x.is_some_and(|x| x.len() != d.n * per_in) {
            candle_core::bail!(
                "fast conv2d backward: {} gradient values for {d:?}",
                grad.len()
            )
        }
        let dw_by_labels = x
            .filter(|_| want_dw)
            .and_then(|x| lookup::label_signatures(d, self.stride, x))
            .map(|s| lookup::weight_gradient(d, self.padding, &s, grad));
        let dw_whole = dw_by_labels.or_else(|| match x {
            Some(x) if want_dw && few::takes_weight_gradient(d, self.stride) => {
                Some(few::weight_gradient(d, self.padding, x, grad))
            }
            Some(x) if want_dw && splits_by_columns(d) => {
                Some(weight_gradient(d, &rows, &cols, x, grad))
            }
            _ => None,
        });
        let mut dx = if !want_dx {
            None
        } else if few::takes_input_gradient(d, self.stride) {
            Some(few::input_gradient(d, self.padding, weight, grad))
        } else if direct::takes_input_gradient(d, self.stride, self.padding) {
            Some(direct::input_gradient(d, self.padding, weight, grad))
        } else if self.stride == 1 && splits_by_channels(d) {
            Some(input_gradient(d, &rows, &cols, weight, grad))
        } else {
            None
        };
        let (tiles_dw, tiles_dx) = (want_dw && dw_whole.is_none(), want_dx && dx.is_none());
        let mut dw_by_tiles = None;
        if tiles_dw || tiles_dx {
            let job = BatchBackward {
                d,
                dw_layout: WeightGradLayout::for_pixels(d.n * d.oh * d.ow),
                rows: &rows,
                cols: &cols,
                weight,
                grad,
            };
            let mut dx_tiles = vec![0.0f32; if tiles_dx { d.n * per_in } else { 0 }];
            dw_by_tiles = job.run(
                x.filter(|_| tiles_dw),
                tiles_dx.then_some(&mut dx_tiles[..]),
            );
            if tiles_dx {
                dx = Some(dx_tiles);
            }
        }
        Ok((dw_whole.or(dw_by_tiles), dx))
    }
}

/// `0..len` cut into `parts` contiguous ranges (fewer when `len` is smaller), for the tasks
/// of a split over the rayon pool.
pub(super) fn split_ranges(len: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let per_part = len.div_ceil(parts.clamp(1, len.max(1))).max(1);
    (0..len)
        .step_by(per_part)
        .map(|start| start..(start + per_part).min(len))
        .collect()
}

/// `(dW, dX)`, each when asked for.
pub(super) type Gradients = (Option<Vec<f32>>, Option<Vec<f32>>);
