//! Matrix transposes for the training convolutions' backward (`train_conv_backward.rs`): the
//! output gradient's tiles go in transposed to the weight-gradient product, and the summed
//! `dW^T` comes out transposed (`WeightGradLayout::Transposed`). Element by element with
//! bounds checks, the final transpose of a 2304 x 256 `dW^T` (pix2pixHD's residual blocks) was
//! a quarter of that layer's weight gradient under `perf`; here whole 8 x 8 blocks move
//! through AVX registers (the usual unpack / shuffle / lane-permute network), and the sum of
//! the threads' partial `dW^T` is taken as the blocks are loaded, so the partials are not
//! added in a pass of their own.
use rayon::prelude::*;

use super::gemm::MatRef;

/// Side of the register blocks.
#[cfg(target_arch = "x86_64")]
const BLOCK: usize = 8;
/// Output rows per task of [`transpose_sum_par`].
const BAND: usize = 32;

/// `m`'s transpose (m.cols x m.rows) as a dense row-major matrix in `out`, reusing `out`'s
/// allocation.
pub(super) fn transpose_into<'a>(m: MatRef, out: &'a mut Vec<f32>) -> &'a [f32] {
    let out = super::conv::scratch_slice(out, m.rows * m.cols);
    transpose_sum_rows(&[m], 0, out);
    out
}

/// The transpose of the sum of `parts` (equal shapes, rows x cols each) as a new dense
/// row-major (cols x rows) matrix, bands of output rows on the rayon pool.
pub(super) fn transpose_sum_par(parts: &[MatRef]) -> Vec<f32> {
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    debug_assert!(parts
        .iter()
        .all(|p| (p.rows, p.cols) == (first.rows, first.cols)));
    let mut out = vec![0f32; first.rows * first.cols];
    if first.rows == 0 {
        return out;
    }
    out.par_chunks_mut(BAND * first.rows)
        .enumerate()
        .for_each(|(band, rows)| transpose_sum_rows(parts, band * BAND, rows));
    out
}

/// Output rows `j0..` (columns `j0..` of each part) of the transposed sum into `out`, which
/// holds whole rows of `rows` values.
fn transpose_sum_rows(parts: &[MatRef], j0: usize, out: &mut [f32]) {
    let Some(first) = parts.first() else { return };
    let rows = first.rows;
    let cols = out.len() / rows.max(1);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx")
        && parts
            .iter()
            .all(|p| p.col_stride == 1 && p.last_index().is_none_or(|l| l < p.data.len()))
    {
        let (full_i, full_j) = (rows / BLOCK * BLOCK, cols / BLOCK * BLOCK);
        for jb in (0..full_j).step_by(BLOCK) {
            for ib in (0..full_i).step_by(BLOCK) {
                // SAFETY: the CPU has AVX; every part's rows `ib..ib + 8` at columns
                // `j0 + jb..j0 + jb + 8` lie inside its data (its last index is in bounds and
                // its columns are contiguous), and `out` holds rows `jb..jb + 8` of `rows`
                // values, so columns `ib..ib + 8` of them are in bounds.
                unsafe { avx::transpose_sum_block(parts, ib, j0 + jb, out, jb * rows + ib, rows) };
            }
        }
        scalar_rows(parts, j0, out, (full_i, rows), (0, full_j));
        scalar_rows(parts, j0, out, (0, rows), (full_j, cols));
        return;
    }
    scalar_rows(parts, j0, out, (0, rows), (0, cols));
}

/// The element-wise transposed sum for source rows `i0..i1` and output rows `jl0..jl1`
/// (relative to `j0`).
fn scalar_rows(
    parts: &[MatRef],
    j0: usize,
    out: &mut [f32],
    (i0, i1): (usize, usize),
    (jl0, jl1): (usize, usize),
) {
    let rows = parts.first().map_or(0, |p| p.rows);
    for j in jl0..jl1 {
        let row = &mut out[j * rows..(j + 1) * rows];
        for (i, value) in row.iter_mut().enumerate().take(i1).skip(i0) {
            *value = parts
                .iter()
                .map(|p| p.data[i * p.row_stride + (j0 + j) * p.col_stride])
                .sum();
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::MatRef;
    use std::arch::x86_64::*;

    /// Rows `i0..i0 + 8`, columns `c0..c0 + 8` of the sum of `parts` (columns contiguous),
    /// transposed into `out[at + r * out_stride..][..8]` for `r` in `0..8`.
    ///
    /// # Safety
    /// The CPU has AVX; those rows and columns are inside every part's data and those output
    /// rows inside `out`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose_sum_block(
        parts: &[MatRef],
        i0: usize,
        c0: usize,
        out: &mut [f32],
        at: usize,
        out_stride: usize,
    ) {
        let row = |r: usize| {
            let mut sum = _mm256_setzero_ps();
            for p in parts {
                let src = p.data.as_ptr().add((i0 + r) * p.row_stride + c0);
                sum = _mm256_add_ps(sum, _mm256_loadu_ps(src));
            }
            sum
        };
        let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
        let (r4, r5, r6, r7) = (row(4), row(5), row(6), row(7));
        let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
        let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
        let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
        let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let columns = [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        let dst = out.as_mut_ptr().add(at);
        for (r, column) in columns.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(r * out_stride), column);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1009) as f32 - 504.0)
            .collect()
    }

    fn naive(parts: &[MatRef]) -> Vec<f32> {
        let (rows, cols) = (parts[0].rows, parts[0].cols);
        let mut out = vec![0f32; rows * cols];
        for j in 0..cols {
            for i in 0..rows {
                out[j * rows + i] = parts
                    .iter()
                    .map(|p| p.data[i * p.row_stride + j * p.col_stride])
                    .sum();
            }
        }
        out
    }

    #[test]
    fn transposed_sums_match_element_by_element_on_awkward_shapes() {
        for (rows, cols) in [(1, 1), (3, 5), (8, 8), (9, 17), (16, 40), (37, 8), (70, 45)] {
            for count in 1..=3 {
                let data: Vec<Vec<f32>> = (0..count).map(|s| values(rows * cols, s)).collect();
                let parts: Vec<MatRef> = data
                    .iter()
                    .map(|d| MatRef::row_major(d, rows, cols))
                    .collect();
                assert_eq!(
                    transpose_sum_par(&parts),
                    naive(&parts),
                    "{rows}x{cols}, {count}"
                );
            }
        }
    }

    #[test]
    fn transpose_into_reads_strided_views_and_reuses_the_buffer() {
        // A 10 x 13 window of a 12 x 20 matrix, then the same values read column-wise.
        let data = values(12 * 20, 1);
        let window = MatRef {
            data: &data[20 + 2..],
            rows: 10,
            cols: 13,
            row_stride: 20,
            col_stride: 1,
        };
        let mut out = vec![7.0; 3];
        assert_eq!(
            transpose_into(window, &mut out),
            naive(&[window]).as_slice()
        );
        let column_wise = MatRef::row_major(&data, 12, 20).transposed();
        assert_eq!(
            transpose_into(column_wise, &mut out),
            naive(&[column_wise]).as_slice()
        );
    }
}
