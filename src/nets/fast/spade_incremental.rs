//! Incremental frames of the fast SPADE generator (issue 16, after SIGE: Li et al., "Efficient
//! Spatially Sparse Inference for Conditional GANs and Diffusion Models", NeurIPS 2022): the
//! activations entering every residual block of the last frame are kept; a new label map is
//! compared with the last one, and each block recomputes only the rectangle its changed inputs
//! reach, on a window cut from the cache with a margin its cut edges cannot cross, and writes
//! the result back.
//!
//! [`Approximation::EXACT`] with batch-norm SPADE (eval mode: a per-pixel affine) gives a frame
//! equal to a full one up to float summation order. An in-stroke frame may approximate (see
//! [`Approximation`]); the cache is then marked inexact and the next exact request runs a full
//! frame. Instance-norm SPADE normalises with statistics of the whole frame: its exact frames
//! are full ones, and its in-stroke frames reuse the statistics of the last full frame (the
//! issue's "frozen statistics"; `bench --stroke` measures the difference). Sizes that are not
//! multiples of every level always run full frames, and so does an edit whose update is
//! planned at [`FULL_FRAME_FROM_WORK`] of a full frame's work or more (a fill, a new
//! document, or any change that reaches the coarsest levels, whose 3x3 convolutions span
//! nearly the whole image).
use super::conv::{Activation, Epilogue};
use super::planes::Planes;
use super::region::{self, Rect};
use super::seg::{SegContext, Signatures};
use super::spade_generator::{BlockStats, FastSpade};
use super::FastError;

/// How far a residual block's output depends on its input `x` (conv_0 then conv_1, 3x3).
const X_REACH: u32 = 2;

/// An update planned to cost this share of a full frame's block work, or more, runs as a
/// full frame. Measured on a 256x128 batch-norm model (ngf 16) with edits of growing reach
/// (`docs/bench/stroke-2026-12-06-break-even.txt`): an update's time is about
/// 0.07 + 1.15 x its work share of a full frame's, so they break even near 0.8; a fill or any
/// edit that reaches the coarsest level plans 1.0 and took 1.1-1.3 full frames before.
const FULL_FRAME_FROM_WORK: f64 = 0.8;

/// How far a frame may differ from a full one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Approximation {
    /// A change smaller than this in every channel of an activation stops spreading.
    pub tolerance: f32,
    /// Levels this many times coarser than the output, or more, keep the last frame's
    /// activations: a stroke is seen by the finer levels only. Why: at SPADE's coarse levels
    /// a 3x3 convolution spans most of the image and the blocks are the widest, so a stroke
    /// that covers one coarse sample point costs most of a full frame there and below.
    pub frozen_from_factor: usize,
}

impl Approximation {
    /// Equal to a full frame.
    pub const EXACT: Self = Self {
        tolerance: 0.0,
        frozen_from_factor: usize::MAX,
    };

    pub fn is_exact(&self) -> bool {
        *self == Self::EXACT
    }
}

/// The activations of the last frame.
#[derive(Debug, Clone)]
pub struct SpadeFrameCache {
    seg: Planes,
    signatures: Option<Signatures>,
    z: Option<Vec<f32>>,
    /// `inputs[i]`: what enters block `i`, after its upsampling.
    inputs: Vec<Planes>,
    /// The instance statistics block `i` used in the last full frame.
    stats: Vec<BlockStats>,
    /// The last block's output (the image head's input).
    last: Planes,
    image: Planes,
    /// Every value is what a full frame computes (no approximation since one).
    exact: bool,
}

impl SpadeFrameCache {
    /// Bytes held by the cached activations.
    pub fn bytes(&self) -> usize {
        let floats: usize = self.inputs.iter().map(|p| p.data.len()).sum::<usize>()
            + self.last.data.len()
            + self.image.data.len()
            + self.seg.data.len();
        floats * std::mem::size_of::<f32>()
    }
}

/// What one frame computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameWork {
    /// A full frame ran (no cache, another size or style, an instance-norm model).
    pub full: bool,
    /// Multiply-accumulates of the blocks' convolutions run, as a fraction of a full frame's.
    pub fraction: f64,
}

impl FastSpade {
    /// True when incremental frames can equal full ones (batch-norm SPADE; see the module
    /// header); instance-norm models have approximate in-stroke frames only.
    pub fn supports_incremental(&self) -> bool {
        !self.uses_instance_norm()
    }

    /// A frame that reuses `cache` where the label map did not change; fills `cache` for the
    /// next.
    pub fn forward_incremental(
        &self,
        seg: &Planes,
        z: Option<&[f32]>,
        cache: &mut Option<SpadeFrameCache>,
        approximation: Approximation,
    ) -> Result<(Planes, FrameWork), FastError> {
        let exact_possible = self.supports_incremental();
        let reusable = cache.as_ref().is_some_and(|c| {
            (c.exact || !approximation.is_exact())
                && (exact_possible || !approximation.is_exact())
                && (c.seg.channels, c.seg.height, c.seg.width)
                    == (seg.channels, seg.height, seg.width)
                && c.z.as_deref() == z
        });
        if let Some(cached) = cache
            .as_mut()
            .filter(|_| reusable && self.levels_divide(seg))
        {
            if let Some(fraction) = self.update(cached, seg, approximation)? {
                let work = FrameWork {
                    full: false,
                    fraction,
                };
                return Ok((cached.image.clone(), work));
            }
        }
        let (image, fresh) = self.full_frame(seg, z)?;
        *cache = Some(fresh);
        let work = FrameWork {
            full: true,
            fraction: 1.0,
        };
        Ok((image, work))
    }

    /// Every level's size divides the output's (nearest resizing then samples a fixed grid).
    fn levels_divide(&self, seg: &Planes) -> bool {
        let (h, w) = self.latent_size();
        seg.height.is_multiple_of(h) && seg.width.is_multiple_of(w)
    }

    /// The plain forward, keeping what enters every block.
    fn full_frame(
        &self,
        seg: &Planes,
        z: Option<&[f32]>,
    ) -> Result<(Planes, SpadeFrameCache), FastError> {
        let signatures = self.sparse().then(|| Signatures::find(seg)).flatten();
        let mut context = SegContext::with_signatures(seg, self.radius(), signatures.clone());
        let mut x = self.latent(seg, z)?;
        let mut inputs = Vec::with_capacity(self.blocks().len());
        let mut stats = Vec::with_capacity(self.blocks().len());
        for i in 0..self.blocks().len() {
            inputs.push(self.block_input(i, x));
            let (out, used) = self.blocks()[i].forward_stats(
                &inputs[i],
                &mut context,
                self.block_post(i),
                None,
            )?;
            stats.push(used);
            x = out;
        }
        let image = self
            .conv_img()
            .forward(&x, Epilogue::activation(Activation::Tanh))?;
        let cache = SpadeFrameCache {
            seg: seg.clone(),
            signatures,
            z: z.map(<[f32]>::to_vec),
            inputs,
            stats,
            last: x,
            image: image.clone(),
            exact: true,
        };
        Ok((image, cache))
    }

    /// Recomputes what `seg` changed; returns the fraction of a full frame's work done, or
    /// `None` (the cache untouched) when the planned work reaches [`FULL_FRAME_FROM_WORK`].
    fn update(
        &self,
        cache: &mut SpadeFrameCache,
        seg: &Planes,
        approximation: Approximation,
    ) -> Result<Option<f64>, FastError> {
        let tolerance = approximation.tolerance;
        let changed: Vec<bool> = pixel_changes(&cache.seg, seg);
        if !changed.contains(&true) {
            return Ok(Some(0.0));
        }
        if self.planned_work(cache, &changed, approximation) >= FULL_FRAME_FROM_WORK {
            return Ok(None);
        }
        cache.seg.data.copy_from_slice(&seg.data);
        // The strokes may bring classes in or out: found again, cheap next to the convolutions.
        cache.signatures = self.sparse().then(|| Signatures::find(seg)).flatten();
        let (mut done, mut total) = (0.0, 0.0);
        let mut x_dirty = match self.latent_reads_map() {
            // pix2pixHD-style input: the latent grid is a convolution of the downsized map.
            true => {
                let latent = self.block_input(0, self.latent(seg, cache.z.as_deref())?);
                let all = Rect::full(latent.width, latent.height);
                region::paste_changed(&mut cache.inputs[0], all, &latent, all, 1, tolerance)
            }
            false => None,
        };
        for i in 0..self.blocks().len() {
            let (h, w) = (cache.inputs[i].height, cache.inputs[i].width);
            let weight = self.blocks()[i].macs_per_pixel() as f64;
            total += weight * (h * w) as f64;
            let level_dirty =
                self.level_dirty(&changed, (seg.height, seg.width), (h, w), approximation);
            let Some((out_rect, window)) = self.block_rects(x_dirty, level_dirty, (w, h)) else {
                x_dirty = None;
                continue;
            };
            done += weight * window.area() as f64;
            let out = self.block_window(i, cache, window)?;
            let from = out_rect.relative_to(window);
            x_dirty = match i + 1 < self.blocks().len() {
                true => {
                    let factor = self.next_factor(i);
                    let to = out_rect.scaled(factor, factor);
                    let next = &mut cache.inputs[i + 1];
                    region::paste_changed(next, to, &out, from, factor, tolerance)
                }
                false => region::paste_changed(&mut cache.last, out_rect, &out, from, 1, tolerance),
            };
        }
        if let Some(dirty) = x_dirty {
            let (h, w) = (cache.last.height, cache.last.width);
            let out_rect = dirty.grow(1, w, h);
            let window = out_rect.grow(1, w, h);
            let head = self.conv_img().forward(
                &region::crop(&cache.last, window),
                Epilogue::activation(Activation::Tanh),
            )?;
            let from = out_rect.relative_to(window);
            region::paste_changed(&mut cache.image, out_rect, &head, from, 1, 0.0);
        }
        cache.exact &= approximation.is_exact();
        Ok(Some(if total > 0.0 { done / total } else { 0.0 }))
    }

    /// The share of a full frame's block work an update of `changed` pixels would do if every
    /// recomputed value changed (what an exact update does; an approximate one may stop
    /// sooner).
    fn planned_work(
        &self,
        cache: &SpadeFrameCache,
        changed: &[bool],
        approximation: Approximation,
    ) -> f64 {
        let full = (cache.seg.height, cache.seg.width);
        let (mut done, mut total) = (0.0, 0.0);
        let mut x_dirty = match self.latent_reads_map() {
            true => {
                let latent = &cache.inputs[0];
                let size = (latent.height, latent.width);
                level_changes(changed, full, size).map(|_| Rect::full(size.1, size.0))
            }
            false => None,
        };
        for (i, input) in cache.inputs.iter().enumerate() {
            let (h, w) = (input.height, input.width);
            let weight = self.blocks()[i].macs_per_pixel() as f64;
            total += weight * (h * w) as f64;
            let level_dirty = self.level_dirty(changed, full, (h, w), approximation);
            x_dirty = self
                .block_rects(x_dirty, level_dirty, (w, h))
                .map(|(out_rect, window)| {
                    done += weight * window.area() as f64;
                    let factor = self.next_factor(i);
                    out_rect.scaled(factor, factor)
                });
        }
        if total > 0.0 {
            done / total
        } else {
            0.0
        }
    }

    /// The changed rectangle of the label map as a `size` level sees it; none where the
    /// approximation keeps the level.
    fn level_dirty(
        &self,
        changed: &[bool],
        full: (usize, usize),
        size: (usize, usize),
        approximation: Approximation,
    ) -> Option<Rect> {
        match full.0 / size.0 >= approximation.frozen_from_factor {
            true => None,
            false => level_changes(changed, full, size),
        }
    }

    /// For a block on a `size` (width, height) level whose input changed in `x_dirty` and
    /// whose label map changed in `level_dirty`: the output rectangle that changes and the
    /// window it is computed on (with a margin its cut edges cannot cross: the convolutions'
    /// zero padding at the window's edges; the norms read the label map around the window,
    /// see [`Self::block_window`]).
    fn block_rects(
        &self,
        x_dirty: Option<Rect>,
        level_dirty: Option<Rect>,
        (w, h): (usize, usize),
    ) -> Option<(Rect, Rect)> {
        let seg_reach = 2 * self.radius() as u32 + 2;
        let reach = Rect::merge(
            x_dirty.map(|r| r.grow(X_REACH, w, h)),
            level_dirty.map(|r| r.grow(seg_reach, w, h)),
        )?;
        Some((reach, reach.grow(X_REACH, w, h)))
    }

    /// How many times block `i + 1`'s level is finer than block `i`'s.
    fn next_factor(&self, i: usize) -> u32 {
        match self.blocks().get(i + 1).is_some_and(|b| b.upsample) {
            true => 2,
            false => 1,
        }
    }

    /// Block `i` on `window` of its cached input and the matching part of the label map.
    fn block_window(
        &self,
        i: usize,
        cache: &SpadeFrameCache,
        window: Rect,
    ) -> Result<Planes, FastError> {
        let input = &cache.inputs[i];
        // SPADE's gamma and beta at a pixel read the label map 2 radius around it.
        let around = window.grow(2 * self.radius() as u32, input.width, input.height);
        let factor_x = (cache.seg.width / input.width) as u32;
        let factor_y = (cache.seg.height / input.height) as u32;
        let seg_window = around.scaled(factor_x, factor_y);
        let seg = region::crop(&cache.seg, seg_window);
        let signatures = cache
            .signatures
            .as_ref()
            .map(|s| s.crop(cache.seg.width, seg_window));
        let level = (around.height() as usize, around.width() as usize);
        let inner = window.relative_to(around);
        let mut context = SegContext::windowed(&seg, self.radius(), signatures, inner, level);
        let x = region::crop(input, window);
        let frozen = Some(&cache.stats[i]);
        let (out, _) =
            self.blocks()[i].forward_stats(&x, &mut context, self.block_post(i), frozen)?;
        Ok(out)
    }
}

/// Per pixel: does any channel differ between the two maps (of one shape)?
fn pixel_changes(old: &Planes, new: &Planes) -> Vec<bool> {
    let plane = new.plane_len();
    let mut changed = vec![false; plane];
    for c in 0..new.channels {
        for ((flag, a), b) in changed.iter_mut().zip(old.channel(c)).zip(new.channel(c)) {
            *flag |= a != b;
        }
    }
    changed
}

/// The rectangle of a `size` level whose nearest samples of the full map changed.
fn level_changes(changed: &[bool], full: (usize, usize), size: (usize, usize)) -> Option<Rect> {
    let ((full_h, full_w), (h, w)) = (full, size);
    let samples = (0..h * w).map(|p| {
        let (y, x) = (p / w, p % w);
        changed[(y * full_h / h) * full_w + x * full_w / w]
    });
    Rect::bounding(samples, w)
}
