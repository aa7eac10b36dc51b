//! A convolution over an input with few distinct per-pixel vectors (a one-hot label map, maybe
//! with pix2pixHD's instance-edge channel) as a table lookup.
//!
//! Why: such an input's convolution at an output pixel is a sum over kernel taps of "the tap's
//! weights times the vector under it", and there are only `signatures x taps` distinct terms.
//! Computing each term once (for every output channel) and adding `kernel^2` table rows per
//! pixel replaces `in_channels * kernel^2` multiply-adds per output value: pix2pixHD's first
//! 7x7 convolution over 35 classes and an edge map drops from about 30 GFLOP of dense work at
//! 512x256 to under 0.5 G additions. The result equals the dense convolution up to the order
//! of float additions.
use rayon::prelude::*;

use super::conv::{finish_row, Conv2d, Epilogue};
use super::gemm::SharedMut;
use super::planes::Planes;
use super::seg::Signatures;
use super::FastError;

impl Conv2d {
    /// [`lookup_pays`] for an input of `height x width` pixels with `signature_count`
    /// distinct vectors.
    pub(crate) fn lookup_pays(&self, signature_count: usize, height: usize, width: usize) -> bool {
        lookup_pays(self.in_channels, signature_count, height * width)
    }

    /// `self` applied to the input whose pixels carry `signatures` (a `height x width` map).
    pub(crate) fn forward_by_lookup(
        &self,
        signatures: &Signatures,
        (height, width): (usize, usize),
        epilogue: Epilogue,
    ) -> Result<Planes, FastError> {
        if signatures.ids().len() != height * width {
            return Err(FastError::shape(
                "signature map",
                height * width,
                signatures.ids().len(),
            ));
        }
        let (rows, cols) = self.axis_tables(height, width, epilogue)?;
        let (h, w) = (rows.out_len, cols.out_len);
        let table = self.tap_table(signatures)?;
        let (m, taps) = (self.out_channels, self.kernel * self.kernel);
        let mut out = Planes::zeros(m, h, w);
        let plane = h * w;
        let dst = SharedMut(out.data.as_mut_ptr());
        let ids = signatures.ids();
        (0..h).into_par_iter().for_each_init(
            || (vec![0.0f32; w * m], vec![0.0f32; w]),
            |(sums, row), q| {
                // Pixel-major sums: one contiguous run of `m` output channels per pixel.
                sums.fill(0.0);
                for ty in 0..self.kernel {
                    let Some(iy) = rows.at(ty, q) else { continue };
                    let line = &ids[iy * width..(iy + 1) * width];
                    for tx in 0..self.kernel {
                        let tap = ty * self.kernel + tx;
                        for (xo, acc) in sums.chunks_exact_mut(m).enumerate() {
                            let Some(ix) = cols.at(tx, xo) else { continue };
                            let start = (line[ix] as usize * taps + tap) * m;
                            for (a, t) in acc.iter_mut().zip(&table[start..start + m]) {
                                *a += t;
                            }
                        }
                    }
                }
                for o in 0..m {
                    for (v, acc) in row.iter_mut().zip(sums.chunks_exact(m)) {
                        *v = acc[o];
                    }
                    let start = o * plane + q * w;
                    // SAFETY: each task writes only its own output row `q` of every channel,
                    // and `out` outlives the parallel loop.
                    let dst_row =
                        unsafe { std::slice::from_raw_parts_mut(dst.ptr().add(start), w) };
                    let residual = epilogue.residual.map(|r| &r.data[start..start + w]);
                    finish_row(dst_row, row, self.bias[o], residual, epilogue.activation);
                }
            },
        );
        Ok(out)
    }

    /// `table[(signature * taps + tap) * out + o]`: output channel `o`'s weights at `tap`
    /// times the signature's vector.
    fn tap_table(&self, signatures: &Signatures) -> Result<Vec<f32>, FastError> {
        let (m, c, taps) = (
            self.out_channels,
            self.in_channels,
            self.kernel * self.kernel,
        );
        let weight = &self.weight;
        let mut table = vec![0.0f32; signatures.vectors.len() * taps * m];
        for (s, vector) in signatures.vectors.iter().enumerate() {
            if vector.len() != c {
                return Err(FastError::shape("signature vector", c, vector.len()));
            }
            let nonzero: Vec<(usize, f32)> = vector
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(|(i, v)| (i, *v))
                .collect();
            for tap in 0..taps {
                let entry = &mut table[(s * taps + tap) * m..(s * taps + tap + 1) * m];
                for (o, value) in entry.iter_mut().enumerate() {
                    *value = nonzero
                        .iter()
                        .map(|&(i, v)| weight[(o * c + i) * taps + tap] * v)
                        .sum();
                }
            }
        }
        Ok(table)
    }
}

/// Whether a lookup over `signature_count` distinct vectors of `in_channels` values pays
/// for `pixels` input pixels: building the table (`signatures * in_channels` products per tap
/// and output channel) plus one addition per pixel, tap and output channel must cost well
/// under the dense `in_channels` multiply-adds.
pub(crate) fn lookup_pays(in_channels: usize, signature_count: usize, pixels: usize) -> bool {
    4 * (signature_count * in_channels + pixels) < pixels * in_channels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::fast::conv::Activation;
    use crate::nets::fast::gather::PadMode;

    /// Four class regions, one-hot in `classes` planes, plus an edge plane on their borders.
    fn labels_with_edges(classes: usize, height: usize, width: usize) -> Planes {
        let class_at = |y: usize, x: usize| {
            (usize::from(y * 2 >= height) * 2 + usize::from(x * 3 >= width)) % classes
        };
        let mut x = Planes::zeros(classes + 1, height, width);
        let plane = height * width;
        for y in 0..height {
            for xx in 0..width {
                let c = class_at(y, xx);
                x.data[c * plane + y * width + xx] = 1.0;
                let edge = (xx + 1 < width && class_at(y, xx + 1) != c)
                    || (y + 1 < height && class_at(y + 1, xx) != c);
                x.data[classes * plane + y * width + xx] = f32::from(u8::from(edge));
            }
        }
        x
    }

    fn conv(c: usize, m: usize, kernel: usize, stride: usize, pad: (usize, PadMode)) -> Conv2d {
        let weight = (0..m * c * kernel * kernel)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let bias = (0..m).map(|o| o as f32 * 0.1 - 0.3).collect();
        Conv2d::new(c, m, kernel, stride, pad, weight, Some(bias)).unwrap()
    }

    #[test]
    fn lookup_equals_the_dense_convolution_on_labels_with_edges() {
        let x = labels_with_edges(5, 24, 36);
        let signatures = Signatures::find(&x).unwrap();
        let cases = [
            conv(6, 8, 7, 1, (3, PadMode::Reflect)),
            conv(6, 5, 3, 2, (1, PadMode::Zero)),
            conv(6, 4, 3, 1, (1, PadMode::Replicate)),
        ];
        for (n, c) in cases.iter().enumerate() {
            assert!(c.lookup_pays(signatures.vectors.len(), 24, 36), "case {n}");
            let epilogue = Epilogue::activation(Activation::LeakyRelu(0.2));
            let dense = c.forward(&x, epilogue).unwrap();
            let looked_up = c
                .forward_by_lookup(&signatures, (24, 36), epilogue)
                .unwrap();
            assert_eq!(
                (looked_up.channels, looked_up.height, looked_up.width),
                (dense.channels, dense.height, dense.width)
            );
            let worst = dense
                .data
                .iter()
                .zip(&looked_up.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "case {n}: differs by {worst}");
        }
    }

    #[test]
    fn lookup_is_declined_for_dense_inputs_and_few_channels() {
        // A colour image (3 channels) never pays; neither do thousands of distinct vectors.
        assert!(!conv(3, 8, 3, 1, (1, PadMode::Zero)).lookup_pays(4, 64, 64));
        assert!(!conv(36, 64, 7, 1, (3, PadMode::Reflect)).lookup_pays(60_000, 64, 64));
        assert!(conv(36, 64, 7, 1, (3, PadMode::Reflect)).lookup_pays(72, 256, 512));
    }
}
