//! `nn.ConvTranspose2d` for inference as `stride^2` ordinary gathered products, one per output
//! phase: output row `oy = stride * q + py` is reached only by the kernel rows `ky` with
//! `(py + pad - ky) % stride == 0`, reading input row `q + (py + pad - ky) / stride`. Each
//! phase is a small dense convolution (pix2pix's k4 s2: four 2x2 ones), so the whole layer is
//! GEMM work with no scatter-add and no wasted multiplications by inserted zeros.
use super::conv::{finish_row, tiled_product, Epilogue};
use super::gather::AxisTable;
use super::gemm::SharedMut;
use super::planes::Planes;
use super::FastError;

/// The kernel taps of one axis phase: (kernel index, input offset).
fn phase_taps(kernel: usize, stride: usize, pad: usize, phase: usize) -> Vec<(usize, i64)> {
    (0..kernel)
        .filter(|&k| (phase as i64 + pad as i64 - k as i64).rem_euclid(stride as i64) == 0)
        .map(|k| {
            (
                k,
                (phase as i64 + pad as i64 - k as i64).div_euclid(stride as i64),
            )
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Phase {
    py: usize,
    px: usize,
    taps_y: Vec<(usize, i64)>,
    taps_x: Vec<(usize, i64)>,
    /// (out, in * taps_y * taps_x).
    weight: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub output_padding: usize,
    phases: Vec<Phase>,
    bias: Vec<f32>,
}

impl ConvTranspose2d {
    /// `weight` in PyTorch's (in, out, kh, kw) order.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        (stride, padding, output_padding): (usize, usize, usize),
        weight: &[f32],
        bias: Option<Vec<f32>>,
    ) -> Result<Self, FastError> {
        if weight.len() != in_channels * out_channels * kernel * kernel || stride == 0 {
            return Err(FastError::shape(
                "transposed conv weight",
                format!("{in_channels}x{out_channels}x{kernel}x{kernel} values, stride >= 1"),
                format!("{} values, stride {stride}", weight.len()),
            ));
        }
        let bias = bias.unwrap_or_else(|| vec![0.0; out_channels]);
        if bias.len() != out_channels {
            return Err(FastError::shape(
                "transposed conv bias",
                out_channels,
                bias.len(),
            ));
        }
        let at = |c: usize, o: usize, ky: usize, kx: usize| {
            weight[((c * out_channels + o) * kernel + ky) * kernel + kx]
        };
        let mut phases = Vec::with_capacity(stride * stride);
        for py in 0..stride {
            for px in 0..stride {
                let taps_y = phase_taps(kernel, stride, padding, py);
                let taps_x = phase_taps(kernel, stride, padding, px);
                let mut w =
                    Vec::with_capacity(out_channels * in_channels * taps_y.len() * taps_x.len());
                for o in 0..out_channels {
                    for c in 0..in_channels {
                        for &(ky, _) in &taps_y {
                            w.extend(taps_x.iter().map(|&(kx, _)| at(c, o, ky, kx)));
                        }
                    }
                }
                phases.push(Phase {
                    py,
                    px,
                    taps_y,
                    taps_x,
                    weight: w,
                });
            }
        }
        Ok(Self {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            output_padding,
            phases,
            bias,
        })
    }

    /// Folds a following per-channel `y * scale + shift` (batch norm in eval mode).
    pub fn fold_affine(&mut self, scale: &[f32], shift: &[f32]) {
        for phase in &mut self.phases {
            let k = phase.weight.len() / self.out_channels.max(1);
            if k == 0 {
                continue;
            }
            for (o, row) in phase.weight.chunks_exact_mut(k).enumerate() {
                row.iter_mut().for_each(|w| *w *= scale[o]);
            }
        }
        for (o, b) in self.bias.iter_mut().enumerate() {
            *b = *b * scale[o] + shift[o];
        }
    }

    pub fn output_size(&self, height: usize, width: usize) -> Result<(usize, usize), FastError> {
        let span = |len: usize| {
            ((len.max(1) - 1) * self.stride + self.kernel + self.output_padding)
                .checked_sub(2 * self.padding)
        };
        match (span(height), span(width)) {
            (Some(h), Some(w)) if height > 0 && width > 0 => Ok((h, w)),
            _ => Err(FastError::shape(
                "transposed conv input",
                "a non-empty input",
                format!("{height}x{width}"),
            )),
        }
    }

    pub fn forward(&self, x: &Planes, epilogue: Epilogue) -> Result<Planes, FastError> {
        if x.channels != self.in_channels {
            return Err(FastError::shape(
                "transposed conv input channels",
                self.in_channels,
                x.channels,
            ));
        }
        if epilogue.residual.is_some() {
            return Err(FastError::Unsupported(
                "a residual after a transposed conv".into(),
            ));
        }
        let (h, w) = self.output_size(x.height, x.width)?;
        let mut out = Planes::zeros(self.out_channels, h, w);
        let dst = SharedMut(out.data.as_mut_ptr());
        let s = self.stride;
        for phase in &self.phases {
            let (rows_out, cols_out) = ((h + s - 1 - phase.py) / s, (w + s - 1 - phase.px) / s);
            if rows_out == 0 || cols_out == 0 {
                continue;
            }
            let table = |taps: &[(usize, i64)], out_len: usize, in_len: usize| {
                AxisTable::from_fn(taps.len(), out_len, |t, q| {
                    let i = q as i64 + taps[t].1;
                    (0..in_len as i64).contains(&i).then_some(i as usize)
                })
            };
            let rows = table(&phase.taps_y, rows_out, x.height);
            let cols = table(&phase.taps_x, cols_out, x.width);
            let place = |tile: super::conv::Tile, values: &[f32]| {
                let nt = (tile.q1 - tile.q0) * cols_out;
                let mut line = vec![0.0; cols_out];
                for (o, src) in (tile.m0..tile.m1).zip(values.chunks_exact(nt)) {
                    for (q, src_row) in (tile.q0..tile.q1).zip(src.chunks_exact(cols_out)) {
                        finish_row(&mut line, src_row, self.bias[o], None, epilogue.activation);
                        let start = (o * h + phase.py + s * q) * w + phase.px;
                        for (r, v) in line.iter().enumerate() {
                            // SAFETY: each output element belongs to exactly one phase, row
                            // and channel, i.e. one tile; phases run one after another.
                            unsafe { *dst.ptr().add(start + s * r) = *v };
                        }
                    }
                }
            };
            if phase.taps_y.is_empty() || phase.taps_x.is_empty() {
                // No kernel tap reaches this phase: the output is the bias alone.
                let zeros = vec![0.0; self.out_channels * rows_out * cols_out];
                let tile = super::conv::Tile {
                    q0: 0,
                    q1: rows_out,
                    m0: 0,
                    m1: self.out_channels,
                };
                place(tile, &zeros);
                continue;
            }
            tiled_product(
                x.view(),
                &rows,
                &cols,
                &phase.weight,
                self.out_channels,
                place,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_of_k4_s2_p1_are_two_taps_each() {
        // Output row 2q reads input rows q (ky 1) and q - 1 (ky 3).
        assert_eq!(phase_taps(4, 2, 1, 0), vec![(1, 0), (3, -1)]);
        assert_eq!(phase_taps(4, 2, 1, 1), vec![(0, 1), (2, 0)]);
        // pix2pixHD's k3 s2 p1: even rows one tap, odd rows two.
        assert_eq!(phase_taps(3, 2, 1, 0), vec![(1, 0)]);
        assert_eq!(phase_taps(3, 2, 1, 1), vec![(0, 1), (2, 0)]);
    }
}
