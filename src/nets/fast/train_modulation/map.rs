//! The label maps of a batch at one level, described for [`super::modulation`]: each
//! sample's signatures (`seg.rs`), its sparse level, and the runs of pixels whose hidden
//! activation is their signature's.
use std::sync::Arc;

use candle_core::Tensor;
use rayon::prelude::*;

use super::ModulationShape;
use crate::nets::fast::planes::Planes;
use crate::nets::fast::seg::{whole_level, SparseLevel};
use crate::nets::fast::train_storage::with_values;

/// Above this share of boundary pixels a level keeps the dense convolutions (the GEMM over
/// gathered columns then costs as much as the convolution, plus the gathering).
const MAX_BOUNDARY_SHARE: f64 = 0.6;

/// Consecutive pixels of one row whose `radius` window is one signature.
#[derive(Debug, Clone, Copy)]
pub(super) struct RegionRun {
    pub(super) y: usize,
    pub(super) x0: usize,
    /// Exclusive.
    pub(super) x1: usize,
    pub(super) sig: usize,
}

/// One sample's label map at a level.
#[derive(Debug)]
pub(super) struct SampleMap {
    pub(super) vectors: Vec<Vec<f32>>,
    pub(super) level: SparseLevel,
    /// Pixels whose hidden activation is their signature's, as row runs.
    pub(super) region_runs: Vec<RegionRun>,
    /// The other pixels.
    pub(super) off_region: Vec<u32>,
}

/// A batch of label maps (N, label_nc, H, W) described for the sparse modulation op.
#[derive(Debug)]
pub struct SparseSeg {
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) label_nc: usize,
    pub(super) samples: Vec<SampleMap>,
}

impl SparseSeg {
    /// None when some sample's map is dense (too many distinct vectors) or mostly boundary
    /// for `kernel`'s windows, where the dense convolutions are as fast.
    pub fn prepare(seg: &Tensor, kernel: usize) -> candle_core::Result<Option<Arc<Self>>> {
        let (n, label_nc, height, width) = seg.dims4()?;
        let plane = label_nc * height * width;
        let radius = kernel / 2;
        let samples = with_values(seg, |values| {
            (0..n)
                .into_par_iter()
                .map(|s| {
                    let data = values[s * plane..(s + 1) * plane].to_vec();
                    let planes = Planes::new(label_nc, height, width, data).ok()?;
                    let (vectors, level) = whole_level(&planes, radius)?;
                    let share = level.boundary.len() as f64 / (height * width) as f64;
                    (share <= MAX_BOUNDARY_SHARE).then(|| SampleMap::new(vectors, level, width))
                })
                .collect::<Option<Vec<_>>>()
        })?;
        Ok(samples.map(|samples| {
            Arc::new(Self {
                height,
                width,
                label_nc,
                samples,
            })
        }))
    }

    /// [`Self::prepare`] for `resized`, the map `seg` resized to a level, remembered per
    /// thread for `seg` (its id), the level's size and `kernel`: the norms of a generator
    /// share one description per level and forward pass.
    pub fn prepare_cached(
        seg: &Tensor,
        resized: &Tensor,
        kernel: usize,
    ) -> candle_core::Result<Option<Arc<Self>>> {
        type Key = (candle_core::TensorId, usize, usize, usize);
        thread_local! {
            static RECENT: std::cell::RefCell<Vec<(Key, Option<Arc<SparseSeg>>)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        /// Levels remembered: a generator has at most about 8.
        const REMEMBERED: usize = 12;
        let (_, _, h, w) = resized.dims4()?;
        let key = (seg.id(), h, w, kernel);
        let known = RECENT.with(|r| {
            r.borrow()
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        });
        if let Some(known) = known {
            return Ok(known);
        }
        let prepared = Self::prepare(resized, kernel)?;
        RECENT.with(|r| {
            let mut recent = r.borrow_mut();
            if recent.len() >= REMEMBERED {
                recent.remove(0);
            }
            recent.push((key, prepared.clone()));
        });
        Ok(prepared)
    }

    pub(super) fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// The pixel `tap` of the kernel reads from `(y, x)`, if inside the image.
    #[inline(always)]
    pub(super) fn tap_pixel(
        &self,
        y: usize,
        x: usize,
        tap: usize,
        shape: &ModulationShape,
    ) -> Option<usize> {
        self.tap_offset(y, x, tap, shape, false)
    }

    /// The pixel whose kernel reads `(y, x)` through `tap`, if inside the image.
    #[inline(always)]
    pub(super) fn reader_pixel(
        &self,
        y: usize,
        x: usize,
        tap: usize,
        shape: &ModulationShape,
    ) -> Option<usize> {
        self.tap_offset(y, x, tap, shape, true)
    }

    /// `(y, x)` moved by `tap`'s offset from the kernel's centre (against it: `reversed`).
    #[inline(always)]
    fn tap_offset(
        &self,
        y: usize,
        x: usize,
        tap: usize,
        shape: &ModulationShape,
        reversed: bool,
    ) -> Option<usize> {
        let (k, r) = (shape.kernel, shape.radius());
        let (ky, kx) = (tap / k, tap % k);
        let (yy, xx) = match reversed {
            false => ((y + ky).checked_sub(r)?, (x + kx).checked_sub(r)?),
            true => ((y + r).checked_sub(ky)?, (x + r).checked_sub(kx)?),
        };
        (yy < self.height && xx < self.width).then_some(yy * self.width + xx)
    }
}

impl SampleMap {
    fn new(vectors: Vec<Vec<f32>>, level: SparseLevel, width: usize) -> Self {
        let mut region_runs: Vec<RegionRun> = Vec::new();
        let mut off_region = Vec::new();
        for (p, (&near, &sig)) in level.uniform_near.iter().zip(&level.sig).enumerate() {
            let (y, x, sig) = (p / width, p % width, usize::from(sig));
            if !near {
                off_region.push(p as u32);
                continue;
            }
            match region_runs.last_mut() {
                Some(run) if run.y == y && run.x1 == x && run.sig == sig => run.x1 += 1,
                _ => region_runs.push(RegionRun {
                    y,
                    x0: x,
                    x1: x + 1,
                    sig,
                }),
            }
        }
        Self {
            vectors,
            level,
            region_runs,
            off_region,
        }
    }
}
