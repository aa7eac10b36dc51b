//! Winograd's minimal filtering F(m x m, 3 x 3) for 3x3, stride-1, zero-padded convolutions
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016), on the
//! `gemm` crate (issue 13). An output tile of `m x m` pixels is computed from an input tile of
//! `a x a` (`a = m + 2`) as `A^T [ (G g G^T) . (B^T d B) ] A`: the element-wise product over
//! the `a^2` transformed positions is, summed over input channels, one matrix product per
//! position, `M = U V` with `U` (out x in channels) the transformed kernel and `V` (in
//! channels x tiles) the transformed input. F(4x4, 3x3) does 36 multiplications where the
//! direct convolution does 144: the VGG perceptual loss, all 3x3 stride-1 layers, is most of a
//! SPADE training step's multiply-adds, and the generators' 3x3 layers are most of a preview
//! frame's (`conv.rs` keeps each layer's transformed kernel).
//!
//! The transforms run on 16 tiles at a time, one tile per SIMD lane, so that the transformed
//! values of one position and channel are contiguous: they are the product's right-hand rows.
//! The input gradient of such a convolution is the same convolution of the output gradient
//! with the kernel flipped and its channels swapped, padded by `2 - padding`
//! ([`WinogradKernel::input_gradient`]).
//!
//! Rounding: the transforms add and subtract multiples of the inputs (at most 5x for F(4x4,
//! 3x3)), so results differ from the direct product by a few 1e-6 relative (the tests bound
//! it); float summation order differs anyway between our kernels and Candle's.
use rayon::prelude::*;

use super::conv::Activation;
use super::gemm::{sgemm_into, MatRef, SharedMut};
use super::simd::simd_dispatch;

/// Output tile side.
const M: usize = 4;
/// Input tile side, `M + 2`.
const A: usize = 6;
/// Tiles transformed together, one per SIMD lane.
const LANES: usize = 16;
type Lanes = [f32; LANES];

/// `G` of F(4x4, 3x3) (interpolation points 0, +-1, +-2 and infinity): a kernel `g` becomes
/// `G g G^T`. `B^T` and `A^T` are written out in `tiles.rs`.
const G: [[f64; 3]; A] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Environment variable that switches these kernels off: `SCENEPAINT_WINOGRAD=off` keeps the
/// im2col product for every convolution (the baseline they were measured against: the same
/// `scenepaint bench --train` with and without it).
pub const WINOGRAD_ENV: &str = "SCENEPAINT_WINOGRAD";

/// Whether the kernels are in use (the environment, read once).
pub fn enabled() -> bool {
    static FROM_ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FROM_ENV.get_or_init(|| !matches!(std::env::var(WINOGRAD_ENV).as_deref(), Ok("off") | Ok("0")))
}

/// Whether a convolution is one these kernels compute: 3x3, stride 1, zero padding of at most
/// 2 (so that its input gradient is one too), and enough channels on both sides for the
/// transforms to cost little beside the products.
pub(crate) fn applies(
    kernel: usize,
    stride: usize,
    padding: usize,
    inputs: usize,
    outputs: usize,
) -> bool {
    const MIN_CHANNELS: usize = 32;
    kernel == 3 && stride == 1 && padding <= 2 && inputs >= MIN_CHANNELS && outputs >= MIN_CHANNELS
}

/// Whether the kernels pay for this convolution (see [`applies`]): they also need enough
/// tiles, since the transformed kernel is 4x the weight and is read once per block of tiles.
/// Measured on the VGG loss at batch 4, 256x128 (fake and real forward, the fake's backward;
/// 2 threads, Intel Xeon, interleaved): from 1.45 to 1.05 s with every layer of at least 64
/// tiles (VGG's conv5_1 has 32), 1.26 s with 256 (conv4's 128-tile layers stay im2col), 1.38 s
/// with 1024. Later, at batch 1, VGG's 256 -> 256 layer at 32x32 (64 tiles) took 9.2-9.7 ms
/// here against 3.5-3.6 ms as im2col tiles (minimum of 21); whole `pix2pixhd-compact` steps
/// 0.33-0.35 s with 64 tiles, 0.31 s with 128 and 0.31-0.34 s with 256, while
/// `ycor-spade-256`'s steps took 2.49-2.58 s with 128 and 2.74-2.83 s with 256 (two
/// alternating rounds each), hence 128.
fn worth_it(input: Input, outputs: usize) -> bool {
    const MIN_TILES: usize = 128;
    let (oh, ow) = input.output_size();
    applies(3, 1, input.padding, input.channels, outputs)
        && input.n * oh.div_ceil(M) * ow.div_ceil(M) >= MIN_TILES
}

/// Whether an inference convolution (one sample, its kernel transformed once per layer) of
/// `inputs -> outputs` channels over an `oh x ow` output is computed here rather than as
/// im2col products. The transforms cost per tile in proportion to `inputs + outputs`, the
/// products save in proportion to `inputs * outputs`: measured on the default model's preview
/// frame (AMD Zen 3, AVX2; `docs/bench/preview-winograd-2026-12-07-s20.txt`), 32 -> 16 and
/// 64 -> 32 layers gain (3.8 -> 3.2 ms at 256x128), 16 -> 16 loses (2.1 -> 3.1 ms), and from
/// 32 tiles (a 32x16 output) up the 256 -> 128 layers gain (2.7 -> 1.4 ms).
pub(crate) fn pays_at_inference(inputs: usize, outputs: usize, (oh, ow): (usize, usize)) -> bool {
    const MIN_TILES: usize = 32;
    enabled()
        && inputs.min(outputs) >= 16
        && inputs.max(outputs) >= 32
        && oh.div_ceil(M) * ow.div_ceil(M) >= MIN_TILES
}

/// A 3x3 kernel in the transformed domain: `u[(position, out, in)]`, position-major, so that
/// each position's (out x in) matrix is the left-hand side of one product.
#[derive(Debug, Clone)]
pub(crate) struct WinogradKernel {
    outputs: usize,
    inputs: usize,
    u: Vec<f32>,
}

impl WinogradKernel {
    /// The kernel of `conv(x, weight)`, `weight` in PyTorch's (out, in, 3, 3) order.
    pub(crate) fn forward(weight: &[f32], outputs: usize, inputs: usize) -> Self {
        let taps = Taps {
            out_stride: inputs * 9,
            in_stride: 9,
            flipped: false,
        };
        Self::build(weight, outputs, inputs, taps)
    }

    /// The kernel of the input gradient of `conv(x, weight)`: the weight flipped in both
    /// axes with its channels swapped (`inputs` outputs from `outputs` inputs).
    pub(crate) fn input_gradient(weight: &[f32], outputs: usize, inputs: usize) -> Self {
        let taps = Taps {
            out_stride: 9,
            in_stride: inputs * 9,
            flipped: true,
        };
        Self::build(weight, inputs, outputs, taps)
    }

    /// `u[p][o][c] = sum_t K[p][t] g[o][c][t]` with `K = G (x) G` (36 x 9 at most), 16 input
    /// channels at a time.
    fn build(weight: &[f32], outputs: usize, inputs: usize, taps: Taps) -> Self {
        let k = kernel_matrix();
        let mut u = vec![0f32; A * A * outputs * inputs];
        let dst = SharedMut(u.as_mut_ptr());
        let plane = outputs * inputs;
        (0..outputs).into_par_iter().for_each_init(
            || vec![0f32; A * A * inputs],
            |rows, o| {
                transform_kernels(&k, weight, taps, o, inputs, rows);
                // Whole rows, one position at a time: the positions' planes are often a
                // multiple of 4 KiB apart, and 64-byte writes to all 36 at once thrash one
                // cache set.
                for (p, row) in rows.chunks_exact(inputs).enumerate() {
                    // SAFETY: u[p][o][..] is written by the task of `o` alone and lies
                    // inside u (p < 36, o < outputs).
                    let dst_row = unsafe {
                        std::slice::from_raw_parts_mut(
                            dst.ptr().add(p * plane + o * inputs),
                            inputs,
                        )
                    };
                    dst_row.copy_from_slice(row);
                }
            },
        );
        Self { outputs, inputs, u }
    }

    #[cfg(test)]
    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }
}

simd_dispatch! {
    /// Row `o` of every position's transformed kernel, `rows[p][..]` (`k` is
    /// [`kernel_matrix`]), 16 input channels at a time.
    fn transform_kernels(k: &[f32], weight: &[f32], taps: Taps, o: usize, inputs: usize, rows: &mut [f32]) {
        for c0 in (0..inputs).step_by(LANES) {
            let lanes = (inputs - c0).min(LANES);
            let mut g = [[0f32; LANES]; 9];
            for (t, g_t) in g.iter_mut().enumerate() {
                let tap = if taps.flipped { 8 - t } else { t };
                for (l, v) in g_t[..lanes].iter_mut().enumerate() {
                    *v = weight[o * taps.out_stride + (c0 + l) * taps.in_stride + tap];
                }
            }
            for (p, row) in rows.chunks_exact_mut(inputs).enumerate() {
                let mut acc = [0f32; LANES];
                for (t, g_t) in g.iter().enumerate() {
                    let coef = k[p * 9 + t];
                    for l in 0..LANES {
                        acc[l] += coef * g_t[l];
                    }
                }
                row[c0..c0 + lanes].copy_from_slice(&acc[..lanes]);
            }
        }
    }
}

/// Where tap `t` of kernel (o, c) is in a weight: `o * out_stride + c * in_stride + t` (or
/// `8 - t`, flipped).
#[derive(Debug, Clone, Copy)]
struct Taps {
    out_stride: usize,
    in_stride: usize,
    flipped: bool,
}

/// `K[(xi, nu), (i, j)] = G[xi][i] G[nu][j]`, computed in f64 and rounded once.
fn kernel_matrix() -> Vec<f32> {
    let mut k = vec![0f32; A * A * 9];
    for xi in 0..A {
        for nu in 0..A {
            for i in 0..3 {
                for j in 0..3 {
                    k[(xi * A + nu) * 9 + i * 3 + j] = (G[xi][i] * G[nu][j]) as f32;
                }
            }
        }
    }
    k
}

/// The shapes of one batch convolution: `n` samples of `channels x height x width` in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input {
    pub n: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub padding: usize,
}

impl Input {
    /// The output side lengths, `(height, width)`.
    pub(crate) fn output_size(&self) -> (usize, usize) {
        (
            (self.height + 2 * self.padding).saturating_sub(2),
            (self.width + 2 * self.padding).saturating_sub(2),
        )
    }
}

/// Whether the kernels are on and take this convolution: one that pays ([`worth_it`]) of a
/// 3x3 `weight` with `outputs` x `input.channels` kernels.
fn takes(input: Input, weight: &[f32], outputs: usize) -> bool {
    enabled() && worth_it(input, outputs) && weight.len() == outputs * input.channels * 9
}

/// `activation(conv(x, weight) + bias)` of a batch, `None` where the
/// convolution is not one it computes (see [`applies`]). `weight` is (outputs, channels, 3, 3).
pub(crate) fn forward(
    x: &[f32],
    input: Input,
    weight: &[f32],
    bias: &[f32],
    activation: Activation,
) -> Option<Vec<f32>> {
    let outputs = bias.len();
    if !takes(input, weight, outputs) {
        return None;
    }
    let kernel = WinogradKernel::forward(weight, outputs, input.channels);
    let (oh, ow) = input.output_size();
    let mut out = vec![0f32; input.n * outputs * oh * ow];
    convolve(&kernel, x, input, bias, activation, &mut out);
    Some(out)
}

/// The input gradient `dX` (the shape of `x` in `input`) of `conv(x, weight)` for the output
/// gradient `grad`, `None` where the convolution is not one the kernels compute.
pub(crate) fn input_gradient(
    grad: &[f32],
    input: Input,
    weight: &[f32],
    outputs: usize,
) -> Option<Vec<f32>> {
    if !takes(input, weight, outputs) {
        return None;
    }
    let kernel = WinogradKernel::input_gradient(weight, outputs, input.channels);
    let (oh, ow) = input.output_size();
    let grad_input = Input {
        n: input.n,
        channels: outputs,
        height: oh,
        width: ow,
        padding: 2 - input.padding,
    };
    let mut dx = vec![0f32; input.n * input.channels * input.height * input.width];
    convolve(
        &kernel,
        grad,
        grad_input,
        &vec![0.0; input.channels],
        Activation::Identity,
        &mut dx,
    );
    Some(dx)
}

/// Where tile `t` of a batch lies: its sample and its input tile's top-left corner (may be
/// negative: padding).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TilePos {
    sample: usize,
    y0: isize,
    x0: isize,
}

/// The tile grid of a batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid {
    tiles_y: usize,
    tiles_x: usize,
    padding: usize,
}

impl Grid {
    pub(super) fn pos(&self, t: usize) -> TilePos {
        let per_sample = self.tiles_y * self.tiles_x;
        let (sample, r) = (t / per_sample, t % per_sample);
        TilePos {
            sample,
            y0: ((r / self.tiles_x) * M) as isize - self.padding as isize,
            x0: ((r % self.tiles_x) * M) as isize - self.padding as isize,
        }
    }
}

/// One task: tiles `[t0, t1)` and output channels `[o0, o1)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Task {
    t0: usize,
    t1: usize,
    o0: usize,
    o1: usize,
}

/// Splits the tiles into blocks whose transformed input fits the caches, and the output
/// channels too when there are too few blocks for every thread.
fn plan(tiles: usize, inputs: usize, outputs: usize) -> Vec<Task> {
    // The transformed input and products of a block, 36 * (in + out) values per tile, stay
    // within about 1 MiB (a Zen 4 core's L2; the output transform reads every position).
    const BLOCK_VALUES: usize = 256 * 1024;
    // Products of fewer columns run the `gemm` crate's narrow kernels (measured slower).
    const MIN_COLUMNS: usize = 64;
    const MAX_O_CHUNK: usize = 128;
    let threads = rayon::current_num_threads().max(1);
    let round = |v: usize| v.div_ceil(LANES) * LANES;
    let per_tile = A * A * (inputs + outputs.min(MAX_O_CHUNK));
    let mut block = (BLOCK_VALUES / per_tile.max(1)) / LANES * LANES;
    block = block.clamp(MIN_COLUMNS, 512);
    block = block.min(round(tiles.div_ceil(2 * threads)).max(LANES));
    let blocks = tiles.div_ceil(block);
    let for_threads = if blocks >= 2 * threads {
        1
    } else {
        (2 * threads).div_ceil(blocks).min(outputs.div_ceil(16))
    };
    let o_chunks = for_threads.max(outputs.div_ceil(MAX_O_CHUNK)).max(1);
    let o_step = outputs.div_ceil(o_chunks);
    let mut tasks = Vec::with_capacity(blocks * o_chunks);
    for b in 0..blocks {
        for oc in 0..o_chunks {
            let (o0, o1) = (oc * o_step, ((oc + 1) * o_step).min(outputs));
            if o1 > o0 {
                tasks.push(Task {
                    t0: b * block,
                    t1: ((b + 1) * block).min(tiles),
                    o0,
                    o1,
                });
            }
        }
    }
    tasks
}

/// `activation(conv(x, kernel) + bias)` of a batch: `x` is (n, channels, height, width),
/// `out` (n, outputs, oh, ow) with the sizes of [`Input::output_size`].
pub(crate) fn convolve(
    kernel: &WinogradKernel,
    x: &[f32],
    input: Input,
    bias: &[f32],
    activation: Activation,
    out: &mut [f32],
) {
    convolve_residual(kernel, x, input, bias, (None, activation), out)
}

/// [`convolve`] with `residual` (the output's shape), when given, added before the
/// activation: a residual block's sum.
pub(crate) fn convolve_residual(
    kernel: &WinogradKernel,
    x: &[f32],
    input: Input,
    bias: &[f32],
    (residual, activation): (Option<&[f32]>, Activation),
    out: &mut [f32],
) {
    let (oh, ow) = input.output_size();
    assert_eq!(kernel.inputs, input.channels, "winograd: input channels");
    assert_eq!(bias.len(), kernel.outputs, "winograd: bias length");
    assert_eq!(
        x.len(),
        input.n * input.channels * input.height * input.width
    );
    assert_eq!(
        out.len(),
        input.n * kernel.outputs * oh * ow,
        "winograd: output size"
    );
    if out.is_empty() {
        return;
    }
    let grid = Grid {
        tiles_y: oh.div_ceil(M),
        tiles_x: ow.div_ceil(M),
        padding: input.padding,
    };
    let tiles = input.n * grid.tiles_y * grid.tiles_x;
    let place = tiles::Placement {
        dst: SharedMut(out.as_mut_ptr()),
        oh,
        ow,
        outputs: kernel.outputs,
        bias,
        activation,
        residual,
    };
    if let Some(r) = residual {
        assert_eq!(r.len(), out.len(), "winograd: residual size");
    }
    plan(tiles, kernel.inputs, kernel.outputs)
        .par_iter()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(v, m), task| {
                let columns = (task.t1 - task.t0).div_ceil(LANES) * LANES;
                grow(v, A * A * position_stride(input.channels, columns));
                tiles::transform_input(x, input, grid, task, columns, &mut v[..]);
                multiply(kernel, task, columns, v, m);
                tiles::transform_output(grid, task, columns, m, &place);
            },
        );
}

/// `M[(position, out, tile)] = U[position][o0..o1] V[position]` for every position.
fn multiply(kernel: &WinogradKernel, task: &Task, columns: usize, v: &[f32], m: &mut Vec<f32>) {
    let (c, rows) = (kernel.inputs, task.o1 - task.o0);
    let plane = kernel.outputs * c;
    let (v_stride, m_stride) = (position_stride(c, columns), position_stride(rows, columns));
    grow(m, A * A * m_stride);
    for p in 0..A * A {
        let lhs = MatRef::row_major(&kernel.u[p * plane + task.o0 * c..][..rows * c], rows, c);
        let rhs = MatRef::row_major(&v[p * v_stride..][..c * columns], c, columns);
        sgemm_into(&mut m[p * m_stride..][..rows * columns], lhs, rhs, false);
    }
}

/// The distance between two positions' matrices of `rows x columns` in a task's buffers: one
/// cache line more than their size, so that the 36 rows a transform reads or writes at once
/// do not all fall into the same cache set (the sizes are often multiples of 4 KiB).
fn position_stride(rows: usize, columns: usize) -> usize {
    rows * columns + LANES
}

/// Makes `buffer` at least `len` long, keeping (not zeroing) what it holds: every value read
/// is written first.
fn grow(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

mod tiles;

#[cfg(test)]
mod tests;
