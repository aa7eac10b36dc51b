//! How a convolution reads its input: padding (zero, reflection, replication) as per-axis
//! gather tables (for each tap and output position, the input position read, or a zero), and
//! im2col through those tables, so pix2pixHD's `ReflectionPad2d` + conv needs no padded copy.
//! Used by the inference convolutions (`conv.rs`, `transpose.rs`) and the training kernels.
use super::planes::PlaneView;
use super::FastError;

/// How a convolution reads outside its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    Zero,
    /// PyTorch's `ReflectionPad2d` (edge not repeated).
    Reflect,
    /// PyTorch's `ReplicationPad2d`.
    Replicate,
}

/// One axis of a gathered product: for each tap and output position, the input position read
/// (or none: a zero).
#[derive(Debug, Clone)]
pub(crate) struct AxisTable {
    pub taps: usize,
    pub out_len: usize,
    /// `index[t * out_len + q]`, -1 for a zero.
    index: Vec<i32>,
    /// Per tap, the longest range `[lo, hi)` of outputs reading consecutive inputs.
    runs: Vec<(usize, usize)>,
}

impl AxisTable {
    pub fn from_fn(
        taps: usize,
        out_len: usize,
        source: impl Fn(usize, usize) -> Option<usize>,
    ) -> Self {
        let mut index = Vec::with_capacity(taps * out_len);
        let mut runs = Vec::with_capacity(taps);
        for t in 0..taps {
            let start = index.len();
            index.extend((0..out_len).map(|q| source(t, q).map_or(-1, |i| i as i32)));
            runs.push(longest_run(&index[start..]));
        }
        Self {
            taps,
            out_len,
            index,
            runs,
        }
    }

    /// A convolution's axis: output `q`, tap `t` reads `q * stride + t - pad`.
    pub fn conv(
        in_len: usize,
        out_len: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        mode: PadMode,
    ) -> Result<Self, FastError> {
        if mode == PadMode::Reflect && pad >= in_len {
            return Err(FastError::shape(
                "reflection padding",
                format!("a side above {pad}"),
                in_len,
            ));
        }
        let last = in_len as i64 - 1;
        Ok(Self::from_fn(kernel, out_len, |t, q| {
            let i = (q * stride + t) as i64 - pad as i64;
            let i = match mode {
                PadMode::Zero => i,
                PadMode::Reflect => {
                    if i < 0 {
                        -i
                    } else if i > last {
                        2 * last - i
                    } else {
                        i
                    }
                }
                PadMode::Replicate => i.clamp(0, last),
            };
            (0..=last).contains(&i).then_some(i as usize)
        }))
    }

    /// The input position of tap `t` at output `q`.
    #[inline]
    pub fn at(&self, t: usize, q: usize) -> Option<usize> {
        let i = self.index[t * self.out_len + q];
        (i >= 0).then_some(i as usize)
    }

    /// Fills `dst` (one output row) from `src` (one input row) for tap `t`.
    #[inline]
    fn gather(&self, t: usize, src: &[f32], dst: &mut [f32]) {
        let index = &self.index[t * self.out_len..(t + 1) * self.out_len];
        let (lo, hi) = self.runs[t];
        let pick = |i: i32| if i >= 0 { src[i as usize] } else { 0.0 };
        for (d, &i) in dst[..lo].iter_mut().zip(&index[..lo]) {
            *d = pick(i);
        }
        if hi > lo {
            let first = index[lo] as usize;
            dst[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
        }
        for (d, &i) in dst[hi..].iter_mut().zip(&index[hi..]) {
            *d = pick(i);
        }
    }

    /// The adjoint of [`Self::gather`]: adds `src` (one output row) into `dst` (one input row)
    /// at the positions tap `t` reads.
    #[inline]
    pub(crate) fn scatter_add(&self, t: usize, src: &[f32], dst: &mut [f32]) {
        let index = &self.index[t * self.out_len..(t + 1) * self.out_len];
        let (lo, hi) = self.runs[t];
        let mut add_at = |range: std::ops::Range<usize>| {
            for (&i, &v) in index[range.clone()].iter().zip(&src[range]) {
                if i >= 0 {
                    dst[i as usize] += v;
                }
            }
        };
        if hi <= lo {
            return add_at(0..src.len().min(index.len()));
        }
        add_at(0..lo);
        add_at(hi..src.len().min(index.len()));
        // The run reads consecutive inputs: one slice add the compiler vectorises (the
        // element-wise loop above was 7 % of a SPADE training step).
        let first = index[lo] as usize;
        let run = &mut dst[first..first + (hi - lo)];
        run.iter_mut().zip(&src[lo..hi]).for_each(|(d, v)| *d += v);
    }

    /// True when output `q` reads input `q` through its single tap (a 1x1, stride-1 axis).
    pub(crate) fn is_identity(&self, in_len: usize) -> bool {
        self.taps == 1
            && self.out_len == in_len
            && self.runs[0] == (0, in_len)
            && self.index[0] == 0
    }
}

fn longest_run(index: &[i32]) -> (usize, usize) {
    let (mut best, mut q) = ((0, 0), 0);
    while q < index.len() {
        if index[q] < 0 {
            q += 1;
            continue;
        }
        let start = q;
        q += 1;
        while q < index.len() && index[q] >= 0 && index[q] == index[q - 1] + 1 {
            q += 1;
        }
        if q - start > best.1 - best.0 {
            best = (start, q);
        }
    }
    best
}

/// Writes the im2col columns of output rows `[q0, q1)`: `channels * rows.taps * cols.taps` rows
/// (channel, row tap, column tap) of `(q1 - q0) * cols.out_len` values.
pub(crate) fn im2col(
    x: PlaneView,
    rows: &AxisTable,
    cols: &AxisTable,
    q0: usize,
    q1: usize,
    col: &mut [f32],
) {
    let taps = 0..x.channels * rows.taps * cols.taps;
    im2col_taps(x, rows, cols, (q0, q1), taps, col);
}

/// [`im2col`]'s rows `taps` only (a range of (channel, row tap, column tap) indices).
pub(crate) fn im2col_taps(
    x: PlaneView,
    rows: &AxisTable,
    cols: &AxisTable,
    (q0, q1): (usize, usize),
    taps: std::ops::Range<usize>,
    col: &mut [f32],
) {
    let (w_in, w_out) = (x.width, cols.out_len);
    let per_channel = rows.taps * cols.taps;
    let tile = (q1 - q0) * w_out;
    for (r, dst_row) in taps.zip(col.chunks_exact_mut(tile.max(1))) {
        let (c, t) = (r / per_channel, r % per_channel);
        let (ty, tx) = (t / cols.taps, t % cols.taps);
        let plane = x.channel(c);
        for (q, dst) in (q0..q1).zip(dst_row.chunks_exact_mut(w_out)) {
            match rows.at(ty, q) {
                None => dst.fill(0.0),
                Some(iy) => cols.gather(tx, &plane[iy * w_in..(iy + 1) * w_in], dst),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_table_matches_pytorch_reflection_pad() {
        // ReflectionPad2d(2) of [a b c d] is [c b a b c d c b]; a 1-tap axis over it.
        let t = AxisTable::conv(4, 8, 1, 1, 2, PadMode::Reflect).unwrap();
        let got: Vec<_> = (0..8).map(|q| t.at(0, q)).collect();
        let want = [2, 1, 0, 1, 2, 3, 2, 1].map(Some);
        assert_eq!(got, want);
        let z = AxisTable::conv(4, 4, 3, 1, 1, PadMode::Zero).unwrap();
        assert_eq!(z.at(0, 0), None);
        assert_eq!(z.runs[0], (1, 4));
        assert_eq!(z.at(2, 3), None);
    }

    #[test]
    fn longest_run_skips_gaps() {
        assert_eq!(longest_run(&[-1, 0, 1, 2, -1]), (1, 4));
        assert_eq!(longest_run(&[0, 2, 4]), (0, 1));
        assert_eq!(longest_run(&[-1, -1]), (0, 0));
    }
}
