//! Direct stride-1 convolutions for training layers with at most four channels on one side
//! (issue 13): pix2pixHD's 32 -> 3 7x7 output layer at full size, forward and `dX`. As im2col
//! products these have a GEMM of three rows (forward) or a three-term sum per column gradient
//! (`dX`), where the `gemm` crate ran at about a quarter of its speed on the residual blocks
//! (3.2-4.0 ms forward, 4.5 ms `dX` for 77 M multiply-adds each way), and as the row sums of
//! `train_conv_few.rs` each multiply-add loads and stores its output.
//!
//! Here a block of four output channels times 64 output columns stays in sixteen vector
//! registers while every input channel and tap adds into it: four broadcast weights and four
//! loads of a zero-padded input row per sixteen multiply-adds. `dX` is the same convolution of
//! the output gradient, padded by `k - 1 - padding`, with the kernels turned by 180 degrees
//! and their channels swapped (the three output channels become the inputs). Each output
//! value sums its channels and taps in a fixed order, independent of the thread count.
//!
//! Measured against the im2col products they replace (minimum of 21, two rounds, 2 threads,
//! Intel Xeon): pix2pixHD's 32 -> 3 7x7 at 134 -> 128 forward 3.26-3.32 -> 1.56-1.58 ms, `dX`
//! 4.77-4.85 -> 1.66 ms; SPADE's `conv_img` 16 -> 3 3x3 at 128x128, batch 4, forward 1.31-1.49
//! -> 1.08-1.21 ms, `dX` 2.05-2.54 -> 0.70-0.78 ms; 32 -> 3 3x3 at 256x256 forward 2.24-2.35
//! -> 1.96-1.98 ms, `dX` 3.69-3.79 -> 1.28-1.31 ms. `dW`
//! stays with `train_conv_few.rs` (a version here keeping its sums in registers compiled to
//! scalar code and was not kept).
use rayon::prelude::*;

use super::conv::Activation;
use super::gemm::SharedMut;
use super::simd::simd_dispatch;
use super::train_conv_geometry::Dims;
use super::train_frozen::flip_kernels;

/// Output channels computed together.
const BLOCK_OUT: usize = 4;
/// Output columns computed together (four vectors of 16).
const BLOCK_X: usize = 64;

/// Whether [`forward`] computes the forward of `d` at `stride`: two to four output channels
/// (one keeps `train_conv_few.rs`'s row sums) at stride 1.
pub(super) fn takes_forward(d: &Dims, stride: usize) -> bool {
    stride == 1 && (2..=BLOCK_OUT).contains(&d.o)
}

/// Whether [`input_gradient`] computes `dX` of `d` at `stride` with zero padding `padding`:
/// two to four output channels at stride 1, the padding at most `k - 1` (wider padding would
/// crop the output gradient instead of padding it).
pub(super) fn takes_input_gradient(d: &Dims, stride: usize, padding: usize) -> bool {
    takes_forward(d, stride) && padding < d.k
}

/// Zero-padded planes: `pad` on every side plus [`BLOCK_X`] zero columns on the right, so
/// that a block of columns never reads past a row.
struct Padded {
    data: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
}

impl Padded {
    /// `src` (n, channels, h, w) padded by `pad`.
    fn new(src: &[f32], (n, channels, h, w): (usize, usize, usize, usize), pad: usize) -> Self {
        let (height, width) = (h + 2 * pad, w + 2 * pad + BLOCK_X);
        let mut data = vec![0f32; n * channels * height * width];
        if h * w > 0 {
            data.par_chunks_mut(height * width)
                .zip(src.par_chunks(h * w))
                .for_each(|(dst, plane)| {
                    for (y, row) in plane.chunks_exact(w).enumerate() {
                        dst[(y + pad) * width + pad..][..w].copy_from_slice(row);
                    }
                });
        }
        Self {
            data,
            channels,
            height,
            width,
        }
    }

    fn sample(&self, i: usize) -> &[f32] {
        let len = self.channels * self.height * self.width;
        &self.data[i * len..(i + 1) * len]
    }
}

/// `out[i][o][y][x] = sum_c sum_(ty, tx) weight[o][c][ty][tx] * input[i][c][y + ty][x + tx]`
/// over the valid positions of the padded input, (n, outputs, oh, ow); `weight` is (outputs,
/// input channels, k, k).
fn valid_conv(input: &Padded, n: usize, weight: &[f32], (outputs, k): (usize, usize)) -> Vec<f32> {
    let (oh, ow) = (input.height + 1 - k, input.width - BLOCK_X + 1 - k);
    let blocks = block_weights(weight, outputs, input.channels, k);
    let mut out = vec![0f32; n * outputs * oh * ow];
    let dst = SharedMut(out.as_mut_ptr());
    let block_count = outputs.div_ceil(BLOCK_OUT);
    let per_block = input.channels * k * k * BLOCK_OUT;
    (0..n * block_count * oh).into_par_iter().for_each_init(
        || vec![0f32; BLOCK_OUT * ow.next_multiple_of(BLOCK_X)],
        |rows, task| {
            let (i, b, y) = (
                task / (block_count * oh),
                task / oh % block_count,
                task % oh,
            );
            let geometry = RowGeometry {
                channels: input.channels,
                height: input.height,
                width: input.width,
                k,
                ow,
            };
            let block = &blocks[b * per_block..(b + 1) * per_block];
            conv_rows(input.sample(i), geometry, block, y, rows);
            let stride = ow.next_multiple_of(BLOCK_X);
            for (r, o) in (b * BLOCK_OUT..((b + 1) * BLOCK_OUT).min(outputs)).enumerate() {
                // SAFETY: row `y` of output channel `o` of sample `i` is written by this task
                // alone (tasks are distinct (i, block, y)) and lies inside `out`.
                let dst_row = unsafe {
                    std::slice::from_raw_parts_mut(
                        dst.ptr().add(((i * outputs + o) * oh + y) * ow),
                        ow,
                    )
                };
                dst_row.copy_from_slice(&rows[r * stride..r * stride + ow]);
            }
        },
    );
    out
}

/// `weight` (outputs, channels, k, k) as blocks of [`BLOCK_OUT`] outputs, each
/// `[channel][tap][output in block]`, zero for the outputs past the last.
fn block_weights(weight: &[f32], outputs: usize, channels: usize, k: usize) -> Vec<f32> {
    let taps = k * k;
    let per_block = channels * taps * BLOCK_OUT;
    let mut blocks = vec![0f32; outputs.div_ceil(BLOCK_OUT) * per_block];
    for o in 0..outputs {
        let (b, r) = (o / BLOCK_OUT, o % BLOCK_OUT);
        for (c, kernel) in weight[o * channels * taps..(o + 1) * channels * taps]
            .chunks_exact(taps)
            .enumerate()
        {
            for (t, &w) in kernel.iter().enumerate() {
                blocks[b * per_block + (c * taps + t) * BLOCK_OUT + r] = w;
            }
        }
    }
    blocks
}

/// The shapes [`conv_rows`] reads: the padded input's, the kernel side and the output width.
#[derive(Clone, Copy)]
struct RowGeometry {
    channels: usize,
    height: usize,
    width: usize,
    k: usize,
    ow: usize,
}

simd_dispatch! {
    /// Output row `y` of one block of four output channels into `rows` (four rows of `ow`
    /// rounded up to [`BLOCK_X`]), from one sample's padded planes and the block's weights.
    fn conv_rows(input: &[f32], g: RowGeometry, block: &[f32], y: usize, rows: &mut [f32]) {
        let plane = g.height * g.width;
        let stride = g.ow.next_multiple_of(BLOCK_X);
        for x0 in (0..g.ow).step_by(BLOCK_X) {
            let mut acc = [[0f32; BLOCK_X]; BLOCK_OUT];
            for c in 0..g.channels {
                for ty in 0..g.k {
                    let row = &input[c * plane + (y + ty) * g.width..][..g.width];
                    for tx in 0..g.k {
                        let Some(src) = row[x0 + tx..].first_chunk::<BLOCK_X>() else {
                            continue;
                        };
                        let tap = (c * g.k + ty) * g.k + tx;
                        let Some(w) = block[tap * BLOCK_OUT..].first_chunk::<BLOCK_OUT>() else {
                            continue;
                        };
                        for (acc_row, &wo) in acc.iter_mut().zip(w) {
                            for (a, &v) in acc_row.iter_mut().zip(src) {
                                *a += wo * v;
                            }
                        }
                    }
                }
            }
            for (r, acc_row) in acc.iter().enumerate() {
                rows[r * stride + x0..r * stride + x0 + BLOCK_X].copy_from_slice(acc_row);
            }
        }
    }
}

/// `activation(conv(x, weight) + bias)` of a batch, (n, o, oh, ow).
pub(super) fn forward(
    d: &Dims,
    padding: usize,
    (x, weight, bias): (&[f32], &[f32], &[f32]),
    activation: Activation,
) -> Vec<f32> {
    let input = Padded::new(x, (d.n, d.c, d.h, d.w), padding);
    let mut out = valid_conv(&input, d.n, weight, (d.o, d.k));
    let plane = d.oh * d.ow;
    if plane > 0 {
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(p, values)| {
                let b = bias[p % d.o];
                values.iter_mut().for_each(|v| *v += b);
                activation.apply_slice(values);
            });
    }
    out
}

/// `dX` (n, c, h, w) of `conv(x, weight)` for the output gradient `grad` (n, o, oh, ow):
/// `grad` padded by `k - 1 - padding`, convolved with the kernels turned and transposed.
pub(super) fn input_gradient(d: &Dims, padding: usize, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let turned = flip_kernels(weight, d);
    let input = Padded::new(grad, (d.n, d.o, d.oh, d.ow), d.k - 1 - padding);
    valid_conv(&input, d.n, &turned, (d.c, d.k))
}
