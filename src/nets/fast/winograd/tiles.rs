//! The input and output transforms of F(4x4, 3x3), 16 tiles at a time (one per lane), with
//! `B^T` and `A^T` written out as sums so that no multiplication by 0 or 1 is done. Sixteen
//! consecutive tiles of one tile row read one 68-value segment per input row and write one
//! 64-value segment per output row; other groups (a tile row's end, the next sample) go tile
//! by tile.
use super::super::conv::Activation;
use super::super::gemm::SharedMut;
use super::super::simd::simd_dispatch;
use super::{position_stride, Grid, Input, Lanes, Task, TilePos, A, LANES, M};

/// One row of `B^T d`: six inputs to six outputs, lane by lane.
#[inline(always)]
fn input_1d(d: &[Lanes; A], o: &mut [Lanes; A]) {
    for l in 0..LANES {
        let [d0, d1, d2, d3, d4, d5] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]];
        let (e42, s13) = (d4 - d2, d1 - d3);
        o[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        o[1][l] = d3 + d4 - 4.0 * (d1 + d2);
        o[2][l] = d4 - d3 + 4.0 * (d1 - d2);
        o[3][l] = e42 - 2.0 * s13;
        o[4][l] = e42 + 2.0 * s13;
        o[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
}

/// One row of `A^T m`: six products to four outputs, lane by lane.
#[inline(always)]
fn output_1d(m: &[Lanes; A], y: &mut [Lanes; M]) {
    for l in 0..LANES {
        let (p12, m12) = (m[1][l] + m[2][l], m[1][l] - m[2][l]);
        let (p34, m34) = (m[3][l] + m[4][l], m[3][l] - m[4][l]);
        y[0][l] = m[0][l] + p12 + p34;
        y[1][l] = m12 + 2.0 * m34;
        y[2][l] = p12 + 4.0 * p34;
        y[3][l] = m12 + 8.0 * m34 + m[5][l];
    }
}

/// Whether the group of 16 tiles starting at `first` lies in one tile row of one sample.
fn one_row(grid: Grid, first: usize, lanes: usize) -> bool {
    lanes == LANES && first % grid.tiles_x + LANES <= grid.tiles_x
}

/// Up to 16 consecutive tiles of a task, one per lane.
#[derive(Clone, Copy)]
struct Group {
    /// How many lanes hold a tile.
    lanes: usize,
    /// The first tile's column in the task's matrices.
    column0: usize,
    /// Whether all 16 lie in one tile row (read and written by row segments).
    row_group: bool,
}

/// The group of up to 16 tiles of `task` starting at tile `first`, with `pos` filled: the
/// first tile's position for a row group, every tile's otherwise (lanes past the last keep
/// old values). The callers loop over the groups themselves rather than passing a closure:
/// a closure is its own function, compiled without the `simd_dispatch!` body's target
/// features unless inlined, and these loops were not (SSE code in an AVX-512 transform).
#[inline(always)]
fn group_at(grid: Grid, task: &Task, first: usize, pos: &mut [TilePos; LANES]) -> Group {
    let lanes = (task.t1 - first).min(LANES);
    let row_group = one_row(grid, first, lanes);
    for (l, p) in pos
        .iter_mut()
        .enumerate()
        .take(if row_group { 1 } else { lanes })
    {
        *p = grid.pos(first + l);
    }
    Group {
        lanes,
        column0: first - task.t0,
        row_group,
    }
}

simd_dispatch! {
    /// `V[(position, channel, tile)]` of a task's tiles (`columns` per row; the lanes past
    /// the last tile are zero).
    pub(super) fn transform_input(
        x: &[f32],
        input: Input,
        grid: Grid,
        task: &Task,
        columns: usize,
        v: &mut [f32],
    ) {
        let c = input.channels;
        let plane = input.height * input.width;
        let v_stride = position_stride(c, columns);
        let mut d = [[[0f32; LANES]; A]; A];
        let mut rows = [[[0f32; LANES]; A]; A];
        let (mut column, mut transformed) = ([[0f32; LANES]; A], [[0f32; LANES]; A]);
        let mut pos = [TilePos::default(); LANES];
        for first in (task.t0..task.t1).step_by(LANES) {
            let Group { lanes, column0, row_group } = group_at(grid, task, first, &mut pos);
            if lanes < LANES {
                for lane_values in d.iter_mut().flatten() {
                    lane_values[lanes..].fill(0.0);
                }
            }
            for ch in 0..c {
                if row_group {
                    let src = &x[(pos[0].sample * c + ch) * plane..][..plane];
                    gather_row_group(src, input, pos[0], &mut d);
                } else {
                    for (l, p) in pos[..lanes].iter().enumerate() {
                        let src = &x[(p.sample * c + ch) * plane..][..plane];
                        gather_tile(src, input, *p, l, &mut d);
                    }
                }
                for (d_row, row) in d.iter().zip(rows.iter_mut()) {
                    input_1d(d_row, row);
                }
                for nu in 0..A {
                    for (value, row) in column.iter_mut().zip(&rows) {
                        *value = row[nu];
                    }
                    input_1d(&column, &mut transformed);
                    for (xi, lane_values) in transformed.iter().enumerate() {
                        let start = (xi * A + nu) * v_stride + ch * columns + column0;
                        v[start..start + LANES].copy_from_slice(lane_values);
                    }
                }
            }
        }
    }
}

/// The input tiles of 16 consecutive tiles of one row starting at `p`: per input row one
/// segment of 66 values (zeros outside the input), split into its four phases.
#[inline(always)]
fn gather_row_group(src: &[f32], input: Input, p: TilePos, d: &mut [[Lanes; A]; A]) {
    const SPAN: usize = M * LANES + 2;
    let (h, w) = (input.height as isize, input.width as isize);
    let (x_lo, x_hi) = ((-p.x0).max(0), (w - p.x0).clamp(0, SPAN as isize));
    for (r, d_row) in d.iter_mut().enumerate() {
        let y = p.y0 + r as isize;
        let mut padded = [0f32; SPAN];
        let segment: &[f32] = match (0..h).contains(&y) {
            true if x_lo == 0 && x_hi == SPAN as isize => {
                let start = y as usize * input.width + p.x0 as usize;
                &src[start..start + SPAN]
            }
            true => {
                if x_hi > x_lo {
                    let start = y as usize * input.width;
                    let (a, b) = ((p.x0 + x_lo) as usize, (p.x0 + x_hi) as usize);
                    padded[x_lo as usize..x_hi as usize]
                        .copy_from_slice(&src[start + a..start + b]);
                }
                &padded
            }
            false => &padded,
        };
        let segment = &segment[..SPAN];
        let mut phases = [[0f32; LANES]; M];
        for l in 0..LANES {
            phases[0][l] = segment[M * l];
            phases[1][l] = segment[M * l + 1];
            phases[2][l] = segment[M * l + 2];
            phases[3][l] = segment[M * l + 3];
        }
        d_row[0] = phases[0];
        d_row[1] = phases[1];
        d_row[2] = phases[2];
        d_row[3] = phases[3];
        // Taps 4 and 5 are taps 0 and 1 of the next tile.
        for l in 0..LANES {
            d_row[4][l] = segment[M * l + 4];
            d_row[5][l] = segment[M * l + 5];
        }
    }
}

/// Copies the `6 x 6` input tile at `p` (zeros outside the input) into lane `l` of `d`.
#[inline(always)]
fn gather_tile(src: &[f32], input: Input, p: TilePos, l: usize, d: &mut [[Lanes; A]; A]) {
    let (h, w) = (input.height as isize, input.width as isize);
    for (r, d_row) in d.iter_mut().enumerate() {
        let y = p.y0 + r as isize;
        for (s, lane_values) in d_row.iter_mut().enumerate() {
            let x = p.x0 + s as isize;
            lane_values[l] = if (0..h).contains(&y) && (0..w).contains(&x) {
                src[y as usize * input.width + x as usize]
            } else {
                0.0
            };
        }
    }
}

/// Where finished output tiles go.
pub(super) struct Placement<'a> {
    pub dst: SharedMut,
    pub oh: usize,
    pub ow: usize,
    pub outputs: usize,
    pub bias: &'a [f32],
    pub activation: Activation,
    /// Added before the activation, in the output's layout (a residual block's sum).
    pub residual: Option<&'a [f32]>,
}

simd_dispatch! {
    /// `A^T M A` of every tile and output channel of a task, plus bias and activation, into
    /// the output (pixels past its edge dropped).
    pub(super) fn transform_output(grid: Grid, task: &Task, columns: usize, m: &[f32], place: &Placement) {
        let rows = task.o1 - task.o0;
        let m_stride = position_stride(rows, columns);
        let out_plane = place.oh * place.ow;
        let mut rows_out = [[[0f32; LANES]; M]; A];
        let mut product_row = [[0f32; LANES]; A];
        let mut y = [[[0f32; LANES]; M]; M];
        let (mut column, mut column_out) = ([[0f32; LANES]; A], [[0f32; LANES]; M]);
        let mut pos = [TilePos::default(); LANES];
        for first in (task.t0..task.t1).step_by(LANES) {
            let Group { lanes, column0, row_group } = group_at(grid, task, first, &mut pos);
            for (r, o) in (task.o0..task.o1).enumerate() {
                for (xi, row_out) in rows_out.iter_mut().enumerate() {
                    for (nu, lane_values) in product_row.iter_mut().enumerate() {
                        let start = (xi * A + nu) * m_stride + r * columns + column0;
                        lane_values.copy_from_slice(&m[start..start + LANES]);
                    }
                    output_1d(&product_row, row_out);
                }
                for j in 0..M {
                    for (value, row_out) in column.iter_mut().zip(&rows_out) {
                        *value = row_out[j];
                    }
                    output_1d(&column, &mut column_out);
                    for (i, lane_values) in column_out.iter().enumerate() {
                        y[i][j] = *lane_values;
                    }
                }
                // With a residual the activation waits for the sum, in the scatter.
                let activation = match place.residual {
                    Some(_) => Activation::Identity,
                    None => place.activation,
                };
                finish(&mut y, place.bias[o], activation);
                if row_group {
                    let base = (pos[0].sample * place.outputs + o) * out_plane;
                    scatter_row_group(&y, place, base, pos[0], grid.padding);
                } else {
                    for (l, p) in pos[..lanes].iter().enumerate() {
                        let base = (p.sample * place.outputs + o) * out_plane;
                        scatter_tile(&y, place, base, *p, grid.padding, l);
                    }
                }
            }
        }
    }
}

/// Adds the bias and applies the activation to every value of a group's tiles.
#[inline(always)]
fn finish(y: &mut [[Lanes; M]; M], bias: f32, activation: Activation) {
    for lane_values in y.iter_mut().flatten() {
        match activation {
            Activation::Identity => {
                for v in lane_values.iter_mut() {
                    *v += bias;
                }
            }
            Activation::Relu => {
                for v in lane_values.iter_mut() {
                    *v = (*v + bias).max(0.0);
                }
            }
            other => {
                for v in lane_values.iter_mut() {
                    *v = other.apply(*v + bias);
                }
            }
        }
    }
}

/// Writes 16 consecutive tiles of one row, one output row of up to 64 values at a time.
#[inline(always)]
fn scatter_row_group(
    y: &[[Lanes; M]; M],
    place: &Placement,
    base: usize,
    p: TilePos,
    padding: usize,
) {
    let (oy, ox) = (p.y0 + padding as isize, p.x0 + padding as isize);
    let (oy, ox) = (oy as usize, ox as usize);
    let width = (place.ow - ox).min(M * LANES);
    for (i, y_row) in y.iter().enumerate().take(place.oh - oy) {
        let mut segment = [0f32; M * LANES];
        for l in 0..LANES {
            for (j, lane_values) in y_row.iter().enumerate() {
                segment[M * l + j] = lane_values[l];
            }
        }
        let start = base + (oy + i) * place.ow + ox;
        if let Some(residual) = place.residual {
            for (v, r) in segment[..width]
                .iter_mut()
                .zip(&residual[start..start + width])
            {
                *v = place.activation.apply(*v + r);
            }
        }
        // SAFETY: the tiles of a group and output channel belong to one task, which alone
        // writes these output pixels; start + width stays inside the channel's plane.
        let row = unsafe { std::slice::from_raw_parts_mut(place.dst.ptr().add(start), width) };
        row.copy_from_slice(&segment[..width]);
    }
}

/// Writes lane `l`'s tile.
#[inline(always)]
fn scatter_tile(
    y: &[[Lanes; M]; M],
    place: &Placement,
    base: usize,
    p: TilePos,
    padding: usize,
    l: usize,
) {
    let (oy, ox) = (
        (p.y0 + padding as isize) as usize,
        (p.x0 + padding as isize) as usize,
    );
    for (i, y_row) in y.iter().enumerate().take(place.oh - oy) {
        let start = base + (oy + i) * place.ow + ox;
        for (j, lane_values) in y_row.iter().enumerate().take(place.ow - ox) {
            let value = match place.residual {
                Some(residual) => place.activation.apply(lane_values[l] + residual[start + j]),
                None => lane_values[l],
            };
            // SAFETY: as in `scatter_row_group`: one task writes this pixel.
            unsafe { *place.dst.ptr().add(start + j) = value };
        }
    }
}
