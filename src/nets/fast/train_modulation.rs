//! SPADE's modulation convolutions for training on the fast path (issue 13): `mlp_shared`
//! (k x k over the label map, then ReLU) followed by `mlp_gamma` or `mlp_beta` (k x k), as one
//! Candle custom op with its own backward that computes only what differs between pixels.
//!
//! SPADE (Park et al. 2019, `models/networks/normalization.py`) predicts gamma and beta from
//! the label map alone. Where the map holds one vector (signature) in the `2 radius` window
//! around a pixel, the prediction there is a per-signature constant; the inference path uses
//! that (`seg.rs`, `spade_norm.rs`), and training uses the same split of the pixels:
//! - forward: a table row per signature for region pixels, a GEMM over the im2col of the
//!   hidden activation at boundary pixels only; the hidden activation itself is a lookup per
//!   kernel tap of per-signature products, never a convolution;
//! - the output convolution's weight gradient: per-signature sums of the output gradient times
//!   the region's hidden vector, plus the boundary GEMM;
//! - the hidden activation's gradient (for `mlp_shared`'s weights): where a pixel's `radius`
//!   window is one signature its hidden vector is that signature's, so only the sum of those
//!   pixels' gradients is needed: box sums of the output gradient per signature and kernel tap
//!   (one vectorised sum per row run and kernel row, minus its ends); at the other pixels the
//!   transposed convolution as a GEMM.
//!
//! The sums run in another order than a dense convolution's, so results equal Candle's
//! convolutions up to rounding (tests below; `tests/fast_train/iterations.rs` for whole iterations).
use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::gemm::{sgemm_into, MatRef};
use super::train_storage::{storage_values, with_values};

/// Boundary or off-region pixels per GEMM task.
const PIXELS_PER_TASK: usize = 256;

/// Channel counts and kernel size of one `mlp_shared` + output convolution pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModulationShape {
    /// Channels of the label map.
    pub label_nc: usize,
    /// `mlp_shared`'s output channels.
    pub hidden: usize,
    /// The output convolution's channels (the normalised activation's).
    pub out: usize,
    /// Kernel size of both (odd; zero padding of `kernel / 2`).
    pub kernel: usize,
}

impl ModulationShape {
    fn taps(&self) -> usize {
        self.kernel * self.kernel
    }

    fn radius(&self) -> usize {
        self.kernel / 2
    }

    /// Lengths of the packed `[weight, bias]` vectors of the two convolutions.
    fn packed_lens(&self) -> (usize, usize) {
        let t = self.taps();
        (
            self.hidden * self.label_nc * t + self.hidden,
            self.out * self.hidden * t + self.out,
        )
    }
}

/// `relu(mlp_shared(seg))` followed by the output convolution, `out` channels, on `seg`'s
/// pixels; `shared` and `output` are each convolution's `[weight.flatten(), bias]`.
pub fn modulation(
    seg: &Arc<SparseSeg>,
    shape: ModulationShape,
    shared: &Tensor,
    output: &Tensor,
) -> candle_core::Result<Tensor> {
    if shape.label_nc != seg.label_nc || shape.kernel.is_multiple_of(2) {
        candle_core::bail!(
            "fast modulation: a map of {} channels for a convolution of {} (kernel {})",
            seg.label_nc,
            shape.label_nc,
            shape.kernel
        )
    }
    let op = ModulationOp {
        seg: seg.clone(),
        shape,
    };
    shared.apply_op2(output, op)
}

/// The two convolutions' weights, read from the packed vectors.
#[derive(Clone, Copy)]
struct Weights<'a> {
    /// (hidden, label_nc, taps)
    shared_w: &'a [f32],
    shared_b: &'a [f32],
    /// (out, hidden, taps)
    out_w: &'a [f32],
    out_b: &'a [f32],
}

impl<'a> Weights<'a> {
    fn split(
        shape: &ModulationShape,
        shared: &'a [f32],
        output: &'a [f32],
    ) -> candle_core::Result<Self> {
        let (shared_len, out_len) = shape.packed_lens();
        if shared.len() != shared_len || output.len() != out_len {
            candle_core::bail!(
                "fast modulation: packed weights of {} and {} values for {shape:?}; expected {shared_len} and {out_len}",
                shared.len(),
                output.len()
            )
        }
        let (shared_w, shared_b) = shared.split_at(shared_len - shape.hidden);
        let (out_w, out_b) = output.split_at(out_len - shape.out);
        Ok(Self {
            shared_w,
            shared_b,
            out_w,
            out_b,
        })
    }
}

/// Per signature: each tap's contribution to the hidden pre-activation (signature, tap,
/// hidden) and the pre-activation inside its regions (signature, hidden).
struct SignatureHidden {
    taps: Vec<f32>,
    pre: Vec<f32>,
}

impl SignatureHidden {
    fn new(map: &SampleMap, w: &Weights, shape: &ModulationShape) -> Self {
        let (t_count, hid, labels) = (shape.taps(), shape.hidden, shape.label_nc);
        let mut taps = vec![0f32; map.vectors.len() * t_count * hid];
        let mut pre = Vec::with_capacity(map.vectors.len() * hid);
        for (v, vector) in map.vectors.iter().enumerate() {
            let block = &mut taps[v * t_count * hid..(v + 1) * t_count * hid];
            for c in 0..hid {
                for (l, &value) in vector.iter().enumerate().filter(|(_, &x)| x != 0.0) {
                    let row = &w.shared_w[(c * labels + l) * t_count..][..t_count];
                    for (t, &wt) in row.iter().enumerate() {
                        block[t * hid + c] += wt * value;
                    }
                }
            }
            pre.extend(
                (0..hid)
                    .map(|c| w.shared_b[c] + (0..t_count).map(|t| block[t * hid + c]).sum::<f32>()),
            );
        }
        Self { taps, pre }
    }

    /// The hidden pre-activation at pixel `p` of `seg`'s sample `map`.
    fn pre_at(
        &self,
        seg: &SparseSeg,
        map: &SampleMap,
        p: usize,
        w: &Weights,
        shape: &ModulationShape,
        out: &mut [f32],
    ) {
        let hid = shape.hidden;
        out.copy_from_slice(w.shared_b);
        let (y, x) = (p / seg.width, p % seg.width);
        for t in 0..shape.taps() {
            if let Some(q) = seg.tap_pixel(y, x, t, shape) {
                let v = usize::from(map.level.sig[q]);
                let add = &self.taps[(v * shape.taps() + t) * hid..][..hid];
                out.iter_mut().zip(add).for_each(|(o, a)| *o += a);
            }
        }
    }
}

/// The hidden activations (after the ReLU) at the level's `needed` pixels, (needed, hidden).
fn needed_hidden(
    seg: &SparseSeg,
    map: &SampleMap,
    sh: &SignatureHidden,
    w: &Weights,
    shape: &ModulationShape,
) -> Vec<f32> {
    let hid = shape.hidden;
    let mut out = vec![0f32; map.level.needed.len() * hid];
    out.par_chunks_mut(hid * PIXELS_PER_TASK)
        .zip(map.level.needed.par_chunks(PIXELS_PER_TASK))
        .for_each(|(out, pixels)| {
            for (o, &p) in out.chunks_mut(hid).zip(pixels) {
                sh.pre_at(seg, map, p as usize, w, shape, o);
                o.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        });
    out
}

/// The im2col rows (hidden x taps, hidden-major like the weights) of the hidden activation
/// at `pixels`.
fn hidden_columns(
    seg: &SparseSeg,
    map: &SampleMap,
    hidden: &[f32],
    pixels: &[u32],
    shape: &ModulationShape,
) -> Vec<f32> {
    let (hid, t_count) = (shape.hidden, shape.taps());
    let mut col = vec![0f32; pixels.len() * hid * t_count];
    for (row, &p) in col.chunks_mut(hid * t_count).zip(pixels) {
        let (y, x) = (p as usize / seg.width, p as usize % seg.width);
        for t in 0..t_count {
            if let Some(q) = seg.tap_pixel(y, x, t, shape) {
                let slot = map.level.slot[q] as usize;
                for (c, &h) in hidden[slot * hid..(slot + 1) * hid].iter().enumerate() {
                    row[c * t_count + t] = h;
                }
            }
        }
    }
    col
}

/// The output convolution's weight as (hidden x taps, out), for products with im2col rows.
fn out_weight_transposed(w: &Weights, shape: &ModulationShape) -> Vec<f32> {
    let k = shape.hidden * shape.taps();
    let mut t = vec![0f32; k * shape.out];
    for o in 0..shape.out {
        for (i, &v) in w.out_w[o * k..(o + 1) * k].iter().enumerate() {
            t[i * shape.out + o] = v;
        }
    }
    t
}

/// Per signature, the output inside its regions (signature, out).
fn region_table(sh: &SignatureHidden, w: &Weights, shape: &ModulationShape) -> Vec<f32> {
    let (hid, t_count) = (shape.hidden, shape.taps());
    let mut table = Vec::with_capacity(sh.pre.len() / hid * shape.out);
    for pre in sh.pre.chunks(hid) {
        table.extend((0..shape.out).map(|o| {
            let row = &w.out_w[o * hid * t_count..(o + 1) * hid * t_count];
            let sum: f32 = pre
                .iter()
                .enumerate()
                .map(|(c, &h)| h.max(0.0) * row[c * t_count..(c + 1) * t_count].iter().sum::<f32>())
                .sum();
            w.out_b[o] + sum
        }));
    }
    table
}

mod backward;
mod map;
use backward::backward_sample;
use map::SampleMap;
pub use map::SparseSeg;

/// One sample's output planes (out, H, W).
fn forward_sample(
    seg: &SparseSeg,
    map: &SampleMap,
    w: &Weights,
    shape: &ModulationShape,
    out_w_t: &[f32],
    out: &mut [f32],
) {
    let sh = SignatureHidden::new(map, w, shape);
    let hidden = needed_hidden(seg, map, &sh, w, shape);
    let table = region_table(&sh, w, shape);
    let (c_out, k) = (shape.out, shape.hidden * shape.taps());
    let boundary = &map.level.boundary;
    let mut products = vec![0f32; boundary.len() * c_out];
    products
        .par_chunks_mut(c_out * PIXELS_PER_TASK)
        .zip(boundary.par_chunks(PIXELS_PER_TASK))
        .for_each(|(dst, pixels)| {
            let col = hidden_columns(seg, map, &hidden, pixels, shape);
            let lhs = MatRef::row_major(&col, pixels.len(), k);
            sgemm_into(dst, lhs, MatRef::row_major(out_w_t, k, c_out), false);
        });
    let signatures = map.vectors.len();
    let hw = seg.plane_len();
    out.par_chunks_mut(hw).enumerate().for_each(|(o, plane)| {
        for run in &map.level.runs {
            let dst = &mut plane[run.start as usize..(run.start + run.len) as usize];
            let row = run.row as usize;
            if row < signatures {
                dst.fill(table[row * c_out + o]);
            } else {
                let (first, bias) = (row - signatures, w.out_b[o]);
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = products[(first + i) * c_out + o] + bias;
                }
            }
        }
    });
}

#[derive(Debug, Clone)]
struct ModulationOp {
    seg: Arc<SparseSeg>,
    shape: ModulationShape,
}

impl CustomOp2 for ModulationOp {
    fn name(&self) -> &'static str {
        "scenepaint-fast-spade-modulation"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (shared, output) = (storage_values(s1, l1)?, storage_values(s2, l2)?);
        let shape = &self.shape;
        let w = Weights::split(shape, &shared, &output)?;
        let out_w_t = out_weight_transposed(&w, shape);
        let seg = &self.seg;
        let sample_len = shape.out * seg.plane_len();
        let mut out = vec![0f32; seg.samples.len() * sample_len];
        for (map, out) in seg.samples.iter().zip(out.chunks_mut(sample_len)) {
            forward_sample(seg, map, &w, shape, &out_w_t, out);
        }
        let dims = (seg.samples.len(), shape.out, seg.height, seg.width);
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(
        &self,
        shared: &Tensor,
        output: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let shape = &self.shape;
        let seg = &self.seg;
        let (d_shared, d_output) = with_values(shared, |s| {
            with_values(output, |o| {
                with_values(grad, |g| -> candle_core::Result<_> {
                    let w = Weights::split(shape, s, o)?;
                    let (shared_len, out_len) = shape.packed_lens();
                    let (mut d_shared, mut d_output) =
                        (vec![0f64; shared_len], vec![0f64; out_len]);
                    let sample_len = shape.out * seg.plane_len();
                    for (map, g) in seg.samples.iter().zip(g.chunks(sample_len)) {
                        backward_sample(seg, map, &w, shape, g, &mut d_shared, &mut d_output);
                    }
                    Ok((d_shared, d_output))
                })
            })
        })????;
        let to_tensor = |values: Vec<f64>, like: &Tensor| {
            let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
            Tensor::from_vec(values, like.shape(), like.device())
        };
        Ok((
            Some(to_tensor(d_shared, shared)?),
            Some(to_tensor(d_output, output)?),
        ))
    }
}

#[cfg(test)]
mod tests;
