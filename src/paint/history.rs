//! Undo/redo as a list of changed regions. Each step stores only the bounding rectangle of what a
//! stroke or fill changed, before and after, run-length encoded (label maps are mostly large flat
//! regions, so even a full-canvas fill costs a few kilobytes). Memory is bounded by a byte budget;
//! the oldest steps are dropped first.
use super::raster::Rect;
use crate::labelmap::LabelMap;
use std::collections::VecDeque;

/// Ids of a rectangle, row by row, as (id, run length) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rle {
    runs: Vec<(u16, u32)>,
}

impl Rle {
    /// Encodes `rect` of a map given as raw row-major ids of width `width`.
    pub fn encode(ids: &[u16], width: u32, rect: Rect) -> Rle {
        let mut runs: Vec<(u16, u32)> = Vec::new();
        for y in rect.y0..rect.y1 {
            let start = y as usize * width as usize;
            for &id in &ids[start + rect.x0 as usize..start + rect.x1 as usize] {
                match runs.last_mut() {
                    Some((last, n)) if *last == id => *n += 1,
                    _ => runs.push((id, 1)),
                }
            }
        }
        Rle { runs }
    }

    /// Writes the encoded ids back into `rect` of `map`.
    pub fn decode_into(&self, map: &mut LabelMap, rect: Rect) {
        let w = rect.width() as usize;
        let mut i = 0usize;
        for &(id, n) in &self.runs {
            for _ in 0..n {
                let (x, y) = (rect.x0 as usize + i % w, rect.y0 as usize + i / w);
                map.ids[y * map.width as usize + x] = id;
                i += 1;
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.runs.len() * std::mem::size_of::<(u16, u32)>()
    }

    pub fn runs(&self) -> &[(u16, u32)] {
        &self.runs
    }

    pub fn from_runs(runs: Vec<(u16, u32)>) -> Rle {
        Rle { runs }
    }

    /// Every id through `map_id`; runs that become equal merge.
    fn remap(&mut self, map_id: &impl Fn(u16) -> u16) {
        let mut merged: Vec<(u16, u32)> = Vec::with_capacity(self.runs.len());
        for &(id, n) in &self.runs {
            let id = map_id(id);
            match merged.last_mut() {
                Some((last, count)) if *last == id => *count += n,
                _ => merged.push((id, n)),
            }
        }
        self.runs = merged;
    }
}

/// One undoable step.
#[derive(Debug, Clone)]
struct Patch {
    rect: Rect,
    before: Rle,
    after: Rle,
}

impl Patch {
    fn bytes(&self) -> usize {
        self.before.bytes() + self.after.bytes() + std::mem::size_of::<Patch>()
    }
}

/// Undo and redo stacks with a step limit and a memory budget.
#[derive(Debug, Clone)]
pub struct History {
    undo: VecDeque<Patch>,
    redo: Vec<Patch>,
    undo_bytes: usize,
    max_steps: usize,
    max_bytes: usize,
}

/// Default limits: far more than the 200 steps users expect, within 256 MiB.
pub const DEFAULT_MAX_STEPS: usize = 1000;
pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

impl Default for History {
    fn default() -> Self {
        History::with_limits(DEFAULT_MAX_STEPS, DEFAULT_MAX_BYTES)
    }
}

impl History {
    pub fn with_limits(max_steps: usize, max_bytes: usize) -> Self {
        History {
            undo: VecDeque::new(),
            redo: Vec::new(),
            undo_bytes: 0,
            max_steps,
            max_bytes,
        }
    }

    /// Records a change of `rect`: `before` holds the old ids of the whole map, `map` the new.
    pub fn record(&mut self, before: &[u16], map: &LabelMap, rect: Rect) {
        let patch = Patch {
            rect,
            before: Rle::encode(before, map.width, rect),
            after: Rle::encode(&map.ids, map.width, rect),
        };
        self.redo.clear();
        self.undo_bytes += patch.bytes();
        self.undo.push_back(patch);
        // Keep at least the newest step even if it alone exceeds the budget.
        while self.undo.len() > 1
            && (self.undo.len() > self.max_steps || self.undo_bytes > self.max_bytes)
        {
            if let Some(old) = self.undo.pop_front() {
                self.undo_bytes -= old.bytes();
            }
        }
    }

    /// Reverts the newest step; returns the region that changed.
    pub fn undo(&mut self, map: &mut LabelMap) -> Option<Rect> {
        let patch = self.undo.pop_back()?;
        self.undo_bytes -= patch.bytes();
        patch.before.decode_into(map, patch.rect);
        let rect = patch.rect;
        self.redo.push(patch);
        Some(rect)
    }

    /// Re-applies the newest undone step; returns the region that changed.
    pub fn redo(&mut self, map: &mut LabelMap) -> Option<Rect> {
        let patch = self.redo.pop()?;
        patch.after.decode_into(map, patch.rect);
        let rect = patch.rect;
        self.undo_bytes += patch.bytes();
        self.undo.push_back(patch);
        Some(rect)
    }

    pub fn undo_len(&self) -> usize {
        self.undo.len()
    }
    pub fn redo_len(&self) -> usize {
        self.redo.len()
    }
    /// Bytes held by the undo stack (the redo stack is bounded by what undo held).
    pub fn undo_bytes(&self) -> usize {
        self.undo_bytes
    }
    pub fn clear(&mut self) {
        *self = History::with_limits(self.max_steps, self.max_bytes);
    }

    /// Rewrites every stored id through `map_id`, so the steps stay valid after the painting's
    /// ids were converted the same way (a palette switch by class name).
    pub fn remap(&mut self, map_id: impl Fn(u16) -> u16) {
        for patch in self.undo.iter_mut().chain(self.redo.iter_mut()) {
            patch.before.remap(&map_id);
            patch.after.remap(&map_id);
        }
        self.undo_bytes = self.undo.iter().map(Patch::bytes).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rle_round_trip_of_sub_rect() {
        let ids: Vec<u16> = (0..60).map(|i| (i / 7) as u16).collect();
        let rect = Rect {
            x0: 2,
            y0: 1,
            x1: 9,
            y1: 5,
        };
        let rle = Rle::encode(&ids, 10, rect);
        let mut map = LabelMap::new(10, 6, 99);
        rle.decode_into(&mut map, rect);
        for y in 0..6 {
            for x in 0..10 {
                let expect = if rect.contains(x, y) {
                    ids[(y * 10 + x) as usize]
                } else {
                    99
                };
                assert_eq!(map.get(x, y), expect);
            }
        }
    }

    #[test]
    fn budget_drops_oldest_steps() {
        let mut h = History::with_limits(5, usize::MAX);
        let mut map = LabelMap::new(4, 4, 0);
        for i in 0..8 {
            let before = map.ids.clone();
            map.set(0, 0, i + 1);
            h.record(
                &before,
                &map,
                Rect {
                    x0: 0,
                    y0: 0,
                    x1: 1,
                    y1: 1,
                },
            );
        }
        assert_eq!(h.undo_len(), 5);
        while h.undo(&mut map).is_some() {}
        assert_eq!(map.get(0, 0), 3, "five steps back from 8");

        let mut h = History::with_limits(1000, 1);
        h.record(&map.ids.clone(), &map, Rect::of(&map));
        h.record(&map.ids.clone(), &map, Rect::of(&map));
        assert_eq!(h.undo_len(), 1, "newest step is always kept");
    }
}
