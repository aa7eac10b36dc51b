//! The painting document: a label map plus undo history. A stroke (press .. release) is one undo
//! step: the map is snapshotted when it starts, tools draw directly into the map, and when it
//! ends only the touched rectangle is recorded. Shape tools and shift-lines redraw their preview
//! from the snapshot on every pointer move, so nothing of an earlier preview survives.
use super::history::History;
use super::raster::{self, Rect};
use crate::labelmap::LabelMap;
use crate::{Error, Result};

/// New-canvas size presets (width, height).
pub const CANVAS_PRESETS: &[(u32, u32)] = &[(256, 256), (512, 256), (512, 512), (1024, 512)];
pub use crate::image_limits::MAX_CANVAS_SIDE;

/// Checks a requested canvas size.
pub fn validate_canvas_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_CANVAS_SIDE || height > MAX_CANVAS_SIDE {
        return Err(Error::msg(format!(
            "canvas size {width}x{height} is outside 1x1 .. {MAX_CANVAS_SIDE}x{MAX_CANVAS_SIDE}"
        )));
    }
    Ok(())
}

/// A label map being painted, with undo.
#[derive(Debug, Clone)]
pub struct Document {
    map: LabelMap,
    history: History,
    /// The map as it was when the current stroke began (None between strokes).
    snapshot: Option<Vec<u16>>,
    /// Everything changed during the current stroke.
    stroke_rect: Option<Rect>,
    /// Changed since the display last asked (for partial texture updates).
    dirty: Option<Rect>,
    /// A new value on every change, unique across all documents of the process (see
    /// [`next_generation`]); autosave, the unsaved-work check and the live preview compare it.
    generation: u64,
}

/// Generations come from one counter for the whole process: a document that replaces another
/// (open, import, new, restore) never repeats a generation the preview or autosave already saw,
/// which a per-document count from 0 did (the preview then kept showing the old painting).
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Document {
    /// A blank canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: u16) -> Result<Self> {
        validate_canvas_size(width, height)?;
        Ok(Self::from_map(LabelMap::new(width, height, background)))
    }

    /// Wraps an existing map (import/open) with an empty history.
    pub fn from_map(map: LabelMap) -> Self {
        let dirty = Some(Rect::of(&map));
        Document {
            map,
            history: History::default(),
            snapshot: None,
            stroke_rect: None,
            dirty,
            generation: next_generation(),
        }
    }

    pub fn map(&self) -> &LabelMap {
        &self.map
    }
    pub fn width(&self) -> u32 {
        self.map.width
    }
    pub fn height(&self) -> u32 {
        self.map.height
    }
    pub fn history(&self) -> &History {
        &self.history
    }
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// Id at (x, y) if inside the canvas.
    pub fn id_at(&self, x: i64, y: i64) -> Option<u16> {
        self.map
            .in_bounds(x, y)
            .then(|| self.map.get(x as u32, y as u32))
    }

    /// The region to re-upload to the display since the last call.
    pub fn take_dirty(&mut self) -> Option<Rect> {
        self.dirty.take()
    }
    /// Marks the whole canvas for re-upload (e.g. the palette changed).
    pub fn mark_all_dirty(&mut self) {
        self.dirty = Some(Rect::of(&self.map));
    }

    pub fn in_stroke(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Starts a stroke (one undo step). A stroke already open is ended first.
    pub fn begin_stroke(&mut self) {
        self.end_stroke();
        self.snapshot = Some(self.map.ids.clone());
        self.stroke_rect = None;
    }

    /// Ends the stroke, recording it if anything changed. Returns whether a step was recorded.
    pub fn end_stroke(&mut self) -> bool {
        let Some(before) = self.snapshot.take() else {
            return false;
        };
        let Some(rect) = self.stroke_rect.take() else {
            return false;
        };
        if before == self.map.ids {
            return false;
        }
        self.history.record(&before, &self.map, rect);
        true
    }

    /// Puts back what the current stroke drew (used before redrawing a shape preview).
    pub fn reset_stroke(&mut self) {
        let (Some(before), Some(rect)) = (&self.snapshot, self.stroke_rect) else {
            return;
        };
        let w = self.map.width as usize;
        for y in rect.y0..rect.y1 {
            let row = y as usize * w;
            let span = row + rect.x0 as usize..row + rect.x1 as usize;
            self.map.ids[span.clone()].copy_from_slice(&before[span]);
        }
        self.note_change(Some(rect));
        self.stroke_rect = Some(rect);
    }

    fn note_change(&mut self, rect: Option<Rect>) {
        if rect.is_some() {
            self.dirty = Rect::merge(self.dirty, rect);
            self.stroke_rect = Rect::merge(self.stroke_rect, rect);
            self.generation = next_generation();
        }
    }

    /// Runs `draw` inside the current stroke, or as its own one-step stroke if none is open.
    fn draw(&mut self, draw: impl FnOnce(&mut LabelMap) -> Option<Rect>) -> Option<Rect> {
        let own_stroke = !self.in_stroke();
        if own_stroke {
            self.begin_stroke();
        }
        let rect = draw(&mut self.map);
        self.note_change(rect);
        if own_stroke {
            self.end_stroke();
        }
        rect
    }

    /// Round brush from `a` to `b` (image coordinates, pixels).
    pub fn brush(&mut self, a: [f32; 2], b: [f32; 2], size_px: u32, id: u16) -> Option<Rect> {
        self.draw(|m| raster::brush_segment(m, a, b, size_px, id))
    }

    /// 4-connected flood fill from a pixel.
    pub fn fill(&mut self, x: i64, y: i64, id: u16) -> Option<Rect> {
        if !self.map.in_bounds(x, y) {
            return None;
        }
        self.draw(|m| raster::flood_fill(m, x as u32, y as u32, id))
    }

    /// Filled rectangle between two corner pixels.
    pub fn rect(&mut self, a: [i64; 2], b: [i64; 2], id: u16) -> Option<Rect> {
        self.draw(|m| raster::fill_rect(m, a, b, id))
    }

    /// Filled ellipse inscribed in the box of two corner pixels.
    pub fn ellipse(&mut self, a: [i64; 2], b: [i64; 2], id: u16) -> Option<Rect> {
        self.draw(|m| raster::fill_ellipse(m, a, b, id))
    }

    /// Undoes one step (closing any open stroke first).
    pub fn undo(&mut self) -> bool {
        self.end_stroke();
        let rect = self.history.undo(&mut self.map);
        self.note_change(rect);
        self.stroke_rect = None;
        rect.is_some()
    }

    pub fn redo(&mut self) -> bool {
        self.end_stroke();
        let rect = self.history.redo(&mut self.map);
        self.note_change(rect);
        self.stroke_rect = None;
        rect.is_some()
    }

    /// Converts every id of the painting and of its undo history through `map_id` (a palette
    /// switch by class name): undo and redo keep working in the new ids.
    pub fn remap_ids(&mut self, map_id: impl Fn(u16) -> u16) {
        self.end_stroke();
        for id in &mut self.map.ids {
            *id = map_id(*id);
        }
        self.history.remap(&map_id);
        self.mark_all_dirty();
        self.generation = next_generation();
    }

    /// Puts `map` in place of the painting as one undo step when it has the painting's size
    /// (an imported label map); false when the size differs and the history had to start over.
    pub fn replace_map(&mut self, map: LabelMap) -> bool {
        self.end_stroke();
        let same_size = (map.width, map.height) == (self.map.width, self.map.height);
        if same_size {
            let before = std::mem::replace(&mut self.map, map);
            let rect = Rect::of(&self.map);
            if before.ids != self.map.ids {
                self.history.record(&before.ids, &self.map, rect);
            }
        } else {
            self.map = map;
            self.history.clear();
        }
        self.mark_all_dirty();
        self.generation = next_generation();
        same_size
    }

    /// Replaces every pixel of class `from` by `to` as one undo step (e.g. palette switch).
    pub fn replace_all(&mut self, from: u16, to: u16) -> Option<Rect> {
        self.draw(|m| {
            let mut changed = None;
            for y in 0..m.height {
                for x in 0..m.width {
                    if m.get(x, y) == from && from != to {
                        m.set(x, y, to);
                        changed = Rect::merge(
                            changed,
                            Some(Rect {
                                x0: x,
                                y0: y,
                                x1: x + 1,
                                y1: y + 1,
                            }),
                        );
                    }
                }
            }
            changed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stroke_is_one_undo_step_and_redo_is_exact() {
        let mut doc = Document::new(32, 20, 0).unwrap();
        doc.begin_stroke();
        doc.brush([2.0, 2.0], [20.0, 5.0], 3, 4);
        doc.brush([20.0, 5.0], [25.0, 15.0], 3, 4);
        assert!(doc.end_stroke());
        let painted = doc.map().clone();
        doc.fill(0, 19, 2);
        let filled = doc.map().clone();
        assert_eq!(doc.history().undo_len(), 2);
        assert!(doc.undo());
        assert_eq!(doc.map(), &painted);
        assert!(doc.undo());
        assert_eq!(doc.map(), &LabelMap::new(32, 20, 0));
        assert!(!doc.undo());
        assert!(doc.redo() && doc.redo());
        assert_eq!(doc.map(), &filled);
        assert!(!doc.redo());
    }

    #[test]
    fn remapped_ids_keep_undo_and_redo_working_in_the_new_ids() {
        let mut doc = Document::new(16, 8, 0).unwrap();
        doc.fill(0, 0, 1);
        doc.rect([2, 2], [5, 5], 2);
        doc.rect([8, 1], [12, 6], 3);
        assert!(doc.undo());
        let new_id = |id: u16| [10, 11, 12, 13][id as usize];
        let generation = doc.generation();
        doc.remap_ids(new_id);
        assert_ne!(doc.generation(), generation);
        let mut expected = LabelMap::new(16, 8, 11);
        for y in 2..=5 {
            for x in 2..=5 {
                expected.set(x, y, 12);
            }
        }
        assert_eq!(doc.map(), &expected);
        assert!(doc.redo());
        assert_eq!(doc.map().get(10, 3), 13, "the redone rectangle in new ids");
        assert!(doc.undo() && doc.undo() && doc.undo());
        assert_eq!(
            doc.map(),
            &LabelMap::new(16, 8, 10),
            "the blank canvas in new ids"
        );
    }

    #[test]
    fn a_replaced_map_of_the_same_size_is_one_undo_step_another_size_starts_afresh() {
        let mut doc = Document::new(6, 4, 0).unwrap();
        doc.fill(0, 0, 2);
        let painted = doc.map().clone();
        let imported = LabelMap::new(6, 4, 5);
        assert!(doc.replace_map(imported.clone()));
        assert_eq!(doc.map(), &imported);
        assert!(doc.undo());
        assert_eq!(doc.map(), &painted);
        assert!(doc.redo());
        assert!(!doc.replace_map(LabelMap::new(3, 3, 1)));
        assert_eq!(doc.history().undo_len(), 0);
        assert!(!doc.undo());
        assert_eq!(doc.map(), &LabelMap::new(3, 3, 1));
    }

    #[test]
    fn shape_preview_reset_leaves_no_trace() {
        let mut doc = Document::new(30, 30, 0).unwrap();
        doc.begin_stroke();
        doc.rect([1, 1], [20, 20], 3);
        doc.reset_stroke();
        doc.rect([5, 5], [8, 9], 3);
        doc.end_stroke();
        assert_eq!(doc.map().ids.iter().filter(|&&v| v == 3).count(), 4 * 5);
        doc.undo();
        assert!(doc.map().ids.iter().all(|&v| v == 0));
    }

    #[test]
    fn two_hundred_full_canvas_fills_fit_the_budget() {
        let mut doc = Document::new(512, 512, 0).unwrap();
        for i in 0..210u16 {
            doc.fill(0, 0, i % 3 + 1);
        }
        assert!(doc.history().undo_len() >= 200);
        assert!(
            doc.history().undo_bytes() < 1 << 20,
            "{}",
            doc.history().undo_bytes()
        );
        for _ in 0..200 {
            assert!(doc.undo());
        }
        // 210 fills minus 200 undos leaves the 10th fill (i = 9): class 9 % 3 + 1.
        assert_eq!(doc.id_at(100, 100), Some(1));
    }

    #[test]
    fn dirty_region_tracks_changes_only() {
        let mut doc = Document::new(64, 64, 0).unwrap();
        assert_eq!(
            doc.take_dirty(),
            Some(Rect {
                x0: 0,
                y0: 0,
                x1: 64,
                y1: 64
            })
        );
        assert_eq!(doc.take_dirty(), None);
        doc.brush([10.5, 10.5], [10.5, 10.5], 1, 1);
        assert_eq!(
            doc.take_dirty(),
            Some(Rect {
                x0: 10,
                y0: 10,
                x1: 11,
                y1: 11
            })
        );
        let g = doc.generation();
        doc.brush([10.5, 10.5], [10.5, 10.5], 1, 1);
        assert_eq!(
            doc.take_dirty(),
            None,
            "repainting the same class changes nothing"
        );
        assert_eq!(doc.generation(), g);
        assert!(validate_canvas_size(2049, 10).is_err());
        assert!(validate_canvas_size(2048, 2048).is_ok());
    }
}
