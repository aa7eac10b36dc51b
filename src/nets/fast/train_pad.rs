//! `nn.ReflectionPad2d(pad)` for training on the fast path (issue 13): pix2pixHD pads before
//! its 7x7 convolutions and inside every residual block (`models/networks.py`,
//! `GlobalGenerator`, `ResnetBlock`).
//!
//! The plain path is two `index_select`s, whose backward is two `index_add`s; all four run
//! serially on the calling thread while the rayon pool waits (about 1.6 % of a
//! `pix2pixhd-compact` step's samples, measured with perf). Here forward and backward are one
//! pass per plane on the pool: each padded position reads, and in backward adds its gradient
//! to, the input position it reflects.
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::train_storage::{storage_values, with_values};
use crate::nets::layers::reflect_indices;

/// `nn.ReflectionPad2d(pad)` of an (N, C, H, W) f32 CPU tensor with `pad < H, W`, as one op
/// with its own backward.
pub fn reflection_pad2d(x: &Tensor, pad: usize) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    x.apply_op1(ReflectionPad {
        pad,
        rows: reflect_indices(h, pad),
        cols: reflect_indices(w, pad),
    })
}

#[derive(Debug, Clone)]
struct ReflectionPad {
    pad: usize,
    /// Source row of each padded row, source column of each padded column.
    rows: Vec<u32>,
    cols: Vec<u32>,
}

impl CustomOp1 for ReflectionPad {
    fn name(&self) -> &'static str {
        "scenepaint-fast-reflection-pad2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let (ph, pw) = (self.rows.len(), self.cols.len());
        if (ph, pw) != (h + 2 * self.pad, w + 2 * self.pad) {
            candle_core::bail!("fast reflection pad: tables {ph}x{pw} for input {h}x{w}")
        }
        let x = storage_values(s, l)?;
        let mut out = vec![0f32; n * c * ph * pw];
        if !out.is_empty() {
            out.par_chunks_mut(ph * pw)
                .zip(x.par_chunks(h * w))
                .for_each(|(dst, src)| {
                    for (dst_row, &sy) in dst.chunks_exact_mut(pw).zip(&self.rows) {
                        let src_row = &src[sy as usize * w..(sy as usize + 1) * w];
                        for (d, &sx) in dst_row.iter_mut().zip(&self.cols) {
                            *d = src_row[sx as usize];
                        }
                    }
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, ph, pw))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, c, h, w) = x.dims4()?;
        let (ph, pw) = (self.rows.len(), self.cols.len());
        let dx = with_values(grad, |g| {
            let mut dx = vec![0f32; n * c * h * w];
            if !dx.is_empty() {
                dx.par_chunks_mut(h * w)
                    .zip(g.par_chunks(ph * pw))
                    .for_each(|(d, g)| {
                        for (g_row, &sy) in g.chunks_exact(pw).zip(&self.rows) {
                            let d_row = &mut d[sy as usize * w..(sy as usize + 1) * w];
                            for (&v, &sx) in g_row.iter().zip(&self.cols) {
                                d_row[sx as usize] += v;
                            }
                        }
                    });
            }
            dx
        })?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

#[cfg(test)]
mod tests {
    use crate::nets::fast::train_testing::{assert_same_op, random};
    use crate::nets::layers::{reflection_pad2d, reflection_pad2d_plain};

    /// Values and input gradients equal the plain path's two `index_select`s, on odd and even
    /// sides, pads 1 and 3 (pix2pixHD's), batch and channels above 1.
    #[test]
    fn reflection_pad_matches_index_select() {
        let cases = [
            ((2, 3, 7, 10), 3, 1),
            ((1, 4, 5, 4), 1, 3),
            ((3, 2, 2, 2), 1, 5),
        ];
        for (shape, pad, seed) in cases {
            assert_same_op(
                &random(shape, seed),
                seed + 1,
                |x| reflection_pad2d(x, pad),
                |x| reflection_pad2d_plain(x, pad),
            );
        }
    }
}
