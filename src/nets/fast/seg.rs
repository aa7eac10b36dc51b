//! SPADE's semantic map on the fast path, prepared once per frame and shared by every SPADE
//! norm of the same resolution: the nearest-resized map, and, when the map holds few distinct
//! per-pixel vectors (one-hot classes, maybe an edge channel), each pixel's vector id
//! ("signature") and which pixels sit inside a region of one signature.
//!
//! Why: SPADE's `gamma`/`beta` at a pixel depend only on the label map within `2 * radius` of
//! it (`mlp_shared` then `mlp_gamma`, both k x k with zero padding). Where that window is one
//! signature and inside the image, they are a per-signature constant.
use std::collections::HashMap;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::planes::Planes;
use super::region::Rect;
use super::seg_hidden::HiddenWindows;

/// Above this many distinct vectors the map is treated as dense.
const MAX_SIGNATURES: usize = 1024;

/// The distinct per-pixel vectors of the full-resolution map and each pixel's id.
#[derive(Debug, Clone)]
pub(crate) struct Signatures {
    /// `vectors[v]`: the `channels` values of signature `v`.
    pub vectors: Vec<Vec<f32>>,
    ids: Vec<u16>,
}

impl Signatures {
    /// None when the map has more than [`MAX_SIGNATURES`] distinct vectors.
    pub fn find(seg: &Planes) -> Option<Self> {
        Self::find_in(&seg.data, seg.channels, seg.plane_len())
    }

    /// [`Self::find`] of `channels` planes of `plane` values each, read where they lie.
    pub fn find_in(data: &[f32], channels: usize, plane: usize) -> Option<Self> {
        if data.len() != channels * plane {
            return None;
        }
        let mut lookup: HashMap<Vec<u32>, u16> = HashMap::new();
        let mut vectors = Vec::new();
        let mut ids = Vec::with_capacity(plane);
        let mut key = vec![0u32; channels];
        let mut previous: Option<(Vec<u32>, u16)> = None;
        for p in 0..plane {
            for (c, k) in key.iter_mut().enumerate() {
                *k = data[c * plane + p].to_bits();
            }
            if let Some((prev_key, id)) = &previous {
                if *prev_key == key {
                    ids.push(*id);
                    continue;
                }
            }
            let id = match lookup.get(&key) {
                Some(&id) => id,
                None => {
                    if vectors.len() >= MAX_SIGNATURES {
                        return None;
                    }
                    let id = vectors.len() as u16;
                    vectors.push(key.iter().map(|&b| f32::from_bits(b)).collect());
                    lookup.insert(key.clone(), id);
                    id
                }
            };
            ids.push(id);
            previous = Some((key.clone(), id));
        }
        Some(Self { vectors, ids })
    }

    /// Per pixel (row-major), its signature.
    pub fn ids(&self) -> &[u16] {
        &self.ids
    }

    /// The signatures of the pixels of `rect` in a map `width` wide (the same vectors).
    pub fn crop(&self, width: usize, rect: super::region::Rect) -> Self {
        let cols = rect.cols();
        let ids = rect
            .rows()
            .flat_map(|y| self.ids[y * width + cols.start..y * width + cols.end].iter())
            .copied()
            .collect();
        Self {
            vectors: self.vectors.clone(),
            ids,
        }
    }
}

/// The sparse description of one resolution (see the module header), or of a window of it:
/// `sig`, `uniform_near`, `boundary`, `needed` and `slot` cover a raster `width` wide around
/// the window (enough to find every window pixel's modulation), `runs` the window's pixels.
#[derive(Debug, Clone)]
pub(crate) struct SparseLevel {
    pub signature_count: usize,
    /// Per pixel, its signature.
    pub sig: Vec<u16>,
    /// Per pixel: the k x k window around it is one signature and inside the image.
    pub uniform_near: Vec<bool>,
    /// Pixels whose modulation needs the convolutions.
    pub boundary: Vec<u32>,
    /// Pixels whose `mlp_shared` activation those convolutions read (within `radius` of a
    /// boundary pixel).
    pub needed: Vec<u32>,
    /// Per pixel, its index in `needed`, or -1.
    pub slot: Vec<i32>,
    /// Each window pixel's row in a norm's modulation table, as runs in the window's pixel
    /// order (a norm then reads its table by slices): its signature when the
    /// `(2 radius + 1)^2` window is uniform, else `signature_count + i` for the i-th entry of
    /// `boundary`.
    pub runs: Vec<TableRun>,
    /// Width of the raster `sig` and half the kernel: what [`Self::hidden`] reads.
    width: usize,
    radius: usize,
    /// Built on first use: the inference norms read it, training's modulation does not.
    hidden: OnceLock<HiddenWindows>,
}

/// Consecutive pixels whose table rows are one row (inside a region) or consecutive rows
/// (boundary pixels, numbered in raster order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableRun {
    pub start: u32,
    pub len: u32,
    /// The first pixel's table row.
    pub row: u32,
    /// Rows `row, row + 1, ...` (else `row` for every pixel).
    pub consecutive: bool,
}

/// `table_row` split into [`TableRun`]s; rows `>= signature_count` are boundary rows.
fn table_runs(table_row: &[u32], signature_count: usize) -> Vec<TableRun> {
    let mut runs: Vec<TableRun> = Vec::new();
    for (p, &row) in table_row.iter().enumerate() {
        let consecutive = row as usize >= signature_count;
        if let Some(run) = runs.last_mut() {
            let next = match consecutive {
                true => run.row + run.len,
                false => run.row,
            };
            if run.consecutive == consecutive && row == next {
                run.len += 1;
                continue;
            }
        }
        runs.push(TableRun {
            start: p as u32,
            len: 1,
            row,
            consecutive,
        });
    }
    runs
}

/// One resolution of the semantic map, or a window of it (what the layers at that resolution
/// compute), read from a map that reaches around it.
#[derive(Debug, Clone)]
pub(crate) struct Level {
    pub height: usize,
    pub width: usize,
    /// The window inside the resized map `dense` (and the sparse raster) hold; the whole of
    /// it unless the context is [`SegContext::windowed`].
    pub inner: Rect,
    /// (height, width) of that map.
    raster: (usize, usize),
    /// The nearest-resized map, built only when some layer needs it dense.
    pub dense: Option<Planes>,
    pub sparse: Option<SparseLevel>,
}

/// Rows per task of the per-pixel passes below: levels of up to 16 384 pixels stay on one
/// thread (at 128x64, splitting cost more than it saved).
fn rows_per_task(width: usize) -> usize {
    (16 * 1024 / width.max(1)).max(1)
}

/// Per pixel: is the window of `radius` around it inside the image and all equal to it?
/// Row by row on the rayon pool (the full-size level of a 512x256 frame is 131 072 pixels).
fn uniform_window(sig: &[u16], height: usize, width: usize, radius: usize) -> Vec<bool> {
    let mut rows = vec![false; sig.len()];
    if width == 0 {
        return rows;
    }
    rows.par_chunks_mut(width)
        .zip(sig.par_chunks(width))
        .with_min_len(rows_per_task(width))
        .for_each(|(row, line)| {
            for x in radius..width.saturating_sub(radius) {
                row[x] = line[x - radius..=x + radius].iter().all(|&s| s == line[x]);
            }
        });
    let mut out = vec![false; sig.len()];
    out.par_chunks_mut(width)
        .enumerate()
        .with_min_len(rows_per_task(width))
        .filter(|(y, _)| (radius..height.saturating_sub(radius)).contains(y))
        .for_each(|(y, out_row)| {
            for (x, o) in out_row.iter_mut().enumerate() {
                let p = y * width + x;
                *o = (y - radius..=y + radius).all(|yy| {
                    let q = yy * width + x;
                    rows[q] && sig[q] == sig[p]
                });
            }
        });
    out
}

/// Marks every pixel within `radius` (Chebyshev) of a marked pixel, row by row on the pool.
fn dilate(mask: &[bool], height: usize, width: usize, radius: usize) -> Vec<bool> {
    let mut rows = vec![false; mask.len()];
    if width == 0 {
        return rows;
    }
    rows.par_chunks_mut(width)
        .zip(mask.par_chunks(width))
        .with_min_len(rows_per_task(width))
        .for_each(|(row, line)| {
            for (x, r) in row.iter_mut().enumerate() {
                let (lo, hi) = (x.saturating_sub(radius), (x + radius).min(width - 1));
                *r = line[lo..=hi].iter().any(|&m| m);
            }
        });
    let mut out = vec![false; mask.len()];
    out.par_chunks_mut(width)
        .enumerate()
        .with_min_len(rows_per_task(width))
        .for_each(|(y, out_row)| {
            let (lo, hi) = (y.saturating_sub(radius), (y + radius).min(height - 1));
            for (x, o) in out_row.iter_mut().enumerate() {
                *o = (lo..=hi).any(|yy| rows[yy * width + x]);
            }
        });
    out
}

impl SparseLevel {
    /// The level of `size` sampled from the full map's `signatures`, described for the
    /// pixels of `inner` (the whole level: `Rect::full`).
    fn new(
        signatures: &Signatures,
        full: (usize, usize),
        size: (usize, usize),
        radius: usize,
        inner: Rect,
    ) -> Self {
        let ((full_h, full_w), (height, width)) = (full, size);
        let mut sig = Vec::with_capacity(height * width);
        for y in 0..height {
            let row = &signatures.ids[(y * full_h / height) * full_w..];
            sig.extend((0..width).map(|x| row[x * full_w / width]));
        }
        let uniform_near = uniform_window(&sig, height, width, radius);
        let uniform_far = uniform_window(&sig, height, width, 2 * radius);
        let signature_count = signatures.vectors.len();
        let mut boundary = Vec::new();
        let mut not_far = vec![false; sig.len()];
        let table_row: Vec<u32> = inner
            .rows()
            .flat_map(|y| inner.cols().map(move |x| y * width + x))
            .map(|p| {
                if uniform_far[p] {
                    u32::from(sig[p])
                } else {
                    boundary.push(p as u32);
                    not_far[p] = true;
                    (signature_count + boundary.len() - 1) as u32
                }
            })
            .collect();
        let need_mask = dilate(&not_far, height, width, radius);
        let mut needed = Vec::new();
        let slot = need_mask
            .iter()
            .enumerate()
            .map(|(p, &need)| {
                if need {
                    needed.push(p as u32);
                    needed.len() as i32 - 1
                } else {
                    -1
                }
            })
            .collect();
        let runs = table_runs(&table_row, signature_count);
        Self {
            signature_count,
            sig,
            uniform_near,
            boundary,
            needed,
            slot,
            runs,
            width,
            radius,
            hidden: OnceLock::new(),
        }
    }

    /// The distinct `mlp_shared` activations the boundary pixels read.
    pub fn hidden(&self) -> &HiddenWindows {
        self.hidden.get_or_init(|| {
            HiddenWindows::new(
                &self.sig,
                self.width,
                &self.uniform_near,
                &self.boundary,
                self.radius,
                self.signature_count,
            )
        })
    }
}

/// The whole of `seg` (one sample's map at the size the layers compute) described for
/// modulation convolutions of `radius`: the signatures' vectors and the sparse level. None
/// when the map holds more than [`MAX_SIGNATURES`] distinct vectors.
pub(crate) fn whole_level(seg: &Planes, radius: usize) -> Option<(Vec<Vec<f32>>, SparseLevel)> {
    let signatures = Signatures::find(seg)?;
    let size = (seg.height, seg.width);
    let level = SparseLevel::new(
        &signatures,
        size,
        size,
        radius,
        Rect::full(seg.width, seg.height),
    );
    Some((signatures.vectors, level))
}

/// The semantic map of one sample and its resolutions, built on demand.
#[derive(Debug)]
pub(crate) struct SegContext<'a> {
    seg: &'a Planes,
    signatures: Option<Signatures>,
    radius: usize,
    levels: Vec<Level>,
    /// For [`Self::windowed`]: the window inside the level and the level's (height, width).
    window: Option<(Rect, (usize, usize))>,
}

impl<'a> SegContext<'a> {
    /// `radius`: half the SPADE kernel size. `sparse` false forces the dense computation.
    pub fn new(seg: &'a Planes, radius: usize, sparse: bool) -> Self {
        Self {
            seg,
            signatures: if sparse { Signatures::find(seg) } else { None },
            radius,
            levels: Vec::new(),
            window: None,
        }
    }

    /// Like [`Self::new`] with the map's signatures already found (a window of a larger map).
    pub fn with_signatures(seg: &'a Planes, radius: usize, signatures: Option<Signatures>) -> Self {
        Self {
            seg,
            signatures,
            radius,
            levels: Vec::new(),
            window: None,
        }
    }

    /// One level's window: `seg` covers a `level` (height, width) part of that level, which
    /// reaches `2 radius` past the window `inner` wherever the level goes on, so that the
    /// window's modulation is the whole level's. [`Self::prepare`] with the window's size
    /// prepares it.
    pub fn windowed(
        seg: &'a Planes,
        radius: usize,
        signatures: Option<Signatures>,
        inner: Rect,
        level: (usize, usize),
    ) -> Self {
        Self {
            window: Some((inner, level)),
            ..Self::with_signatures(seg, radius, signatures)
        }
    }

    pub fn signatures(&self) -> Option<&Signatures> {
        self.signatures.as_ref()
    }

    /// Builds the level at `height x width` (`dense`: with the resized map) if needed and
    /// returns its index for [`Self::level`].
    pub fn prepare(&mut self, height: usize, width: usize, dense: bool) -> usize {
        let index = match self
            .levels
            .iter()
            .position(|l| (l.height, l.width) == (height, width))
        {
            Some(i) => i,
            None => {
                let full = (self.seg.height, self.seg.width);
                let (inner, size) = match self.window {
                    Some((inner, size))
                        if (inner.height(), inner.width()) == (height as u32, width as u32) =>
                    {
                        (inner, size)
                    }
                    _ => (Rect::full(width, height), (height, width)),
                };
                let sparse = self
                    .signatures
                    .as_ref()
                    .map(|s| SparseLevel::new(s, full, size, self.radius, inner));
                self.levels.push(Level {
                    height,
                    width,
                    inner,
                    raster: size,
                    dense: None,
                    sparse,
                });
                self.levels.len() - 1
            }
        };
        let level = &mut self.levels[index];
        if (dense || level.sparse.is_none()) && level.dense.is_none() {
            let (h, w) = level.raster;
            level.dense = Some(super::ops::resize_nearest(self.seg, h, w));
        }
        index
    }

    pub fn level(&self, index: usize) -> &Level {
        &self.levels[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_inside_one_region_are_uniform() {
        // 6x6: left half id 0, right half id 1.
        let sig: Vec<u16> = (0..36).map(|p| u16::from(p % 6 >= 3)).collect();
        let near = uniform_window(&sig, 6, 6, 1);
        // (1, 1) sees only id 0; (2, 1) touches column 3; borders are never uniform.
        assert!(near[6 + 1]);
        assert!(!near[6 + 2]);
        assert!(!near[0] && !near[6]);
        let d = dilate(&[false, false, false, true], 2, 2, 1);
        assert_eq!(d, vec![true; 4]);
    }

    #[test]
    fn table_runs_cover_every_pixel_with_its_row() {
        // Two signatures (rows 0, 1); rows from 2 are boundary pixels in raster order.
        let table_row = [0, 0, 2, 3, 1, 1, 4, 0, 5, 6, 7];
        let runs = table_runs(&table_row, 2);
        let expanded: Vec<u32> = runs
            .iter()
            .flat_map(|r| (0..r.len).map(move |i| r.row + if r.consecutive { i } else { 0 }))
            .collect();
        assert_eq!(expanded, table_row);
        assert_eq!(runs.len(), 6, "{runs:?}");
        assert!(runs.windows(2).all(|w| w[0].start + w[0].len == w[1].start));
    }

    #[test]
    fn signatures_count_distinct_vectors() {
        let seg = Planes::new(2, 1, 4, vec![1., 1., 0., 0., 0., 0., 1., 1.]).unwrap();
        let s = Signatures::find(&seg).unwrap();
        assert_eq!(s.vectors, vec![vec![1., 0.], vec![0., 1.]]);
        assert_eq!(s.ids, vec![0, 0, 1, 1]);
    }
}
