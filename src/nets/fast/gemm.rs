//! A bounds-checked front to the `gemm` crate (the same 0.19 Candle uses, so it is compiled
//! once) for single-precision products with arbitrary strides. Every call is single-threaded:
//! the callers split work into tiles and run the tiles on the current rayon pool, which keeps
//! packing and copying parallel too (Candle packs on one thread).
//!
//! The crate is not equally fast for every layout. With the destination row-major (it turns a
//! column-major destination into that by transposing the whole product), a right-hand side
//! whose columns are contiguous (stored (n x k)) drops it from about 105 to 2-50 GFLOP/s on
//! this machine's Zen 4, worst with few rows and long sums (`m 3 n 144 k 4096`: 2.3 against 87
//! GFLOP/s with the same operands row-major). Callers that can choose pick the fast layout:
//! a convolution's weight gradient is summed transposed (`train_conv.rs`). Copying such an
//! operand here, for every caller, gave no measurable gain on the inference frames (SPADE's
//! border product has this layout), so it is not done.

/// A read-only strided matrix view: element (i, j) is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The same values read as the transposed matrix.
    pub fn transposed(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// The largest index the view touches (None when it is empty).
    pub(super) fn last_index(&self) -> Option<usize> {
        (self.rows > 0 && self.cols > 0)
            .then(|| (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride)
    }
}

/// A destination matrix given by a raw pointer, so that disjoint tiles of one output can be
/// written from several threads at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatPtr {
    pub ptr: *mut f32,
    pub row_stride: usize,
    pub col_stride: usize,
}

/// `dst = lhs * rhs`, or `dst += lhs * rhs` with `accumulate`.
///
/// # Safety
/// `dst` must be valid for writes (and reads with `accumulate`) at every
/// `i * row_stride + j * col_stride` for `i < lhs.rows`, `j < rhs.cols`, and no other thread
/// may access those elements during the call.
pub(crate) unsafe fn sgemm(dst: MatPtr, lhs: MatRef, rhs: MatRef, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(
        rhs.rows, k,
        "gemm: inner dimensions differ ({m}x{k} times {}x{n})",
        rhs.rows
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: inside the destination the caller vouches for.
                    unsafe { *dst.ptr.add(i * dst.row_stride + j * dst.col_stride) = 0.0 };
                }
            }
        }
        return;
    }
    assert!(
        lhs.last_index().is_some_and(|i| i < lhs.data.len()),
        "gemm: lhs view out of bounds"
    );
    assert!(
        rhs.last_index().is_some_and(|i| i < rhs.data.len()),
        "gemm: rhs view out of bounds"
    );
    // SAFETY: lhs and rhs were bounds-checked above; dst is the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.ptr,
            dst.col_stride as isize,
            dst.row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

fn assert_fits(dst: &[f32], lhs: MatRef, rhs: MatRef) {
    assert!(
        dst.len() >= lhs.rows * rhs.cols,
        "gemm: destination holds {} values, needs {}x{}",
        dst.len(),
        lhs.rows,
        rhs.cols
    );
}

/// `dst = lhs * rhs` into a dense row-major slice.
pub(crate) fn sgemm_into(dst: &mut [f32], lhs: MatRef, rhs: MatRef, accumulate: bool) {
    assert_fits(dst, lhs, rhs);
    let ptr = MatPtr {
        ptr: dst.as_mut_ptr(),
        row_stride: rhs.cols,
        col_stride: 1,
    };
    // SAFETY: dst is exclusively borrowed and large enough for the (m, n) result.
    unsafe { sgemm(ptr, lhs, rhs, accumulate) }
}

/// `dst = lhs * rhs` into a dense row-major slice, computed as `(rhs^T * lhs^T)^T`.
///
/// Why: the microkernel covers 16 rows of the product at a time, so a product with a handful
/// of rows (a convolution to 3 colour channels) wastes most of it; transposed, those rows
/// become the microkernel's short side and the pixels its long one.
pub(crate) fn sgemm_into_transposed(dst: &mut [f32], lhs: MatRef, rhs: MatRef) {
    assert_fits(dst, lhs, rhs);
    let ptr = MatPtr {
        ptr: dst.as_mut_ptr(),
        row_stride: 1,
        col_stride: rhs.cols,
    };
    // SAFETY: dst is exclusively borrowed; element (j, i) of the transposed product lands at
    // j + i * rhs.cols < lhs.rows * rhs.cols <= dst.len().
    unsafe { sgemm(ptr, rhs.transposed(), lhs.transposed(), false) }
}

/// A raw pointer that may cross threads: each task writes a region no other task touches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedMut(pub *mut f32);
impl SharedMut {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    pub fn ptr(&self) -> *mut f32 {
        self.0
    }
}

// SAFETY: users write disjoint regions only (documented at each use).
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_product_matches_the_definition() {
        // lhs 2x3 row-major, rhs 3x2 given transposed (column-major).
        let lhs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let rhs_t = [1.0, 0.0, -1.0, 2.0, 1.0, 0.5];
        let rhs = MatRef {
            data: &rhs_t,
            rows: 3,
            cols: 2,
            row_stride: 1,
            col_stride: 3,
        };
        let mut dst = [10.0f32; 4];
        sgemm_into(&mut dst, MatRef::row_major(&lhs, 2, 3), rhs, false);
        assert_eq!(dst, [-2.0, 5.5, -2.0, 16.0]);
        sgemm_into(&mut dst, MatRef::row_major(&lhs, 2, 3), rhs, true);
        assert_eq!(dst, [-4.0, 11.0, -4.0, 32.0]);
        let mut transposed = [10.0f32; 4];
        sgemm_into_transposed(&mut transposed, MatRef::row_major(&lhs, 2, 3), rhs);
        assert_eq!(transposed, [-2.0, 5.5, -2.0, 16.0]);
    }

    /// The naive product, for comparison.
    fn reference(lhs: MatRef, rhs: MatRef) -> Vec<f32> {
        let mut out = vec![0.0; lhs.rows * rhs.cols];
        for i in 0..lhs.rows {
            for j in 0..rhs.cols {
                out[i * rhs.cols + j] = (0..lhs.cols)
                    .map(|p| {
                        lhs.data[i * lhs.row_stride + p * lhs.col_stride]
                            * rhs.data[p * rhs.row_stride + j * rhs.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    #[test]
    fn every_layout_and_destination_order_gives_the_product() {
        // Odd sizes larger than the copy's 32-blocks and the microkernel's tiles.
        let (m, k, n) = (5, 70, 37);
        let lhs_values: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let rhs_values: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 13) as f32 * 0.25).collect();
        let lhs_layouts = [
            MatRef::row_major(&lhs_values, m, k),
            MatRef::row_major(&lhs_values, k, m).transposed(),
        ];
        let rhs_layouts = [
            MatRef::row_major(&rhs_values, k, n),
            MatRef::row_major(&rhs_values, n, k).transposed(),
        ];
        for lhs in lhs_layouts {
            for rhs in rhs_layouts {
                let expected = reference(lhs, rhs);
                for column_major in [false, true] {
                    let mut dst = vec![1.0f32; m * n];
                    let (row_stride, col_stride) = if column_major { (1, m) } else { (n, 1) };
                    let ptr = MatPtr {
                        ptr: dst.as_mut_ptr(),
                        row_stride,
                        col_stride,
                    };
                    // SAFETY: dst holds m x n values at these strides and is ours alone.
                    unsafe { sgemm(ptr, lhs, rhs, true) };
                    for i in 0..m {
                        for j in 0..n {
                            let found = dst[i * row_stride + j * col_stride];
                            let want = expected[i * n + j] + 1.0;
                            assert!(
                                (found - want).abs() <= 1e-3 * want.abs().max(1.0),
                                "({i}, {j}) of {lhs:?} x {rhs:?}, column-major {column_major}: {found} != {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
