//! [`Rect`]: a half-open pixel rectangle, the one type for "this part of a plane": what a paint
//! tool touched (`paint`), what a stroke changed in the generator's activations and the window
//! an incremental frame recomputes (`nets::fast::region`).
use crate::labelmap::LabelMap;

/// A half-open pixel rectangle `[x0, x1) x [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Rect {
    pub fn width(&self) -> u32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> u32 {
        self.y1 - self.y0
    }
    pub fn is_empty(&self) -> bool {
        self.x1 <= self.x0 || self.y1 <= self.y0
    }
    pub fn union(self, other: Rect) -> Rect {
        Rect {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }
    /// Union that treats `None` as empty.
    pub fn merge(a: Option<Rect>, b: Option<Rect>) -> Option<Rect> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.union(b)),
            (a, b) => a.or(b),
        }
    }
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }
    /// The whole `width x height` plane.
    pub fn full(width: usize, height: usize) -> Rect {
        Rect {
            x0: 0,
            y0: 0,
            x1: width as u32,
            y1: height as u32,
        }
    }
    pub fn area(&self) -> usize {
        self.width() as usize * self.height() as usize
    }
    /// Rows, as indices.
    pub fn rows(&self) -> std::ops::Range<usize> {
        self.y0 as usize..self.y1 as usize
    }
    /// Columns, as indices.
    pub fn cols(&self) -> std::ops::Range<usize> {
        self.x0 as usize..self.x1 as usize
    }
    /// Grown by `margin` on every side, kept inside a `width x height` plane.
    pub fn grow(self, margin: u32, width: usize, height: usize) -> Rect {
        Rect {
            x0: self.x0.saturating_sub(margin),
            y0: self.y0.saturating_sub(margin),
            x1: (self.x1 + margin).min(width as u32),
            y1: (self.y1 + margin).min(height as u32),
        }
    }
    /// The same area on a plane `factor_x` by `factor_y` times finer.
    pub fn scaled(self, factor_x: u32, factor_y: u32) -> Rect {
        Rect {
            x0: self.x0 * factor_x,
            y0: self.y0 * factor_y,
            x1: self.x1 * factor_x,
            y1: self.y1 * factor_y,
        }
    }
    /// Moved by `(dx, dy)` (from a window's coordinates to its plane's, or back).
    pub fn offset(self, dx: i64, dy: i64) -> Rect {
        let shift = |v: u32, d: i64| (i64::from(v) + d) as u32;
        Rect {
            x0: shift(self.x0, dx),
            y0: shift(self.y0, dy),
            x1: shift(self.x1, dx),
            y1: shift(self.y1, dy),
        }
    }
    /// This rectangle in the coordinates of `outer`, which holds it.
    pub fn relative_to(self, outer: Rect) -> Rect {
        self.offset(-i64::from(outer.x0), -i64::from(outer.y0))
    }
    /// The bounding rectangle of the marked pixels of a `width`-wide row-major mask.
    pub fn bounding(mask: impl Iterator<Item = bool>, width: usize) -> Option<Rect> {
        let mut found: Option<Rect> = None;
        for (p, marked) in mask.enumerate() {
            if marked {
                let (x, y) = ((p % width) as u32, (p / width) as u32);
                let pixel = Rect {
                    x0: x,
                    y0: y,
                    x1: x + 1,
                    y1: y + 1,
                };
                found = Some(found.map_or(pixel, |f| f.union(pixel)));
            }
        }
        found
    }
    /// The whole map.
    pub fn of(map: &LabelMap) -> Rect {
        Rect {
            x0: 0,
            y0: 0,
            x1: map.width,
            y1: map.height,
        }
    }
    /// Clamps a signed box (inclusive min, exclusive max) to the map; `None` if nothing is left.
    pub fn clamped(map: &LabelMap, x0: i64, y0: i64, x1: i64, y1: i64) -> Option<Rect> {
        let cx = |v: i64| v.clamp(0, i64::from(map.width)) as u32;
        let cy = |v: i64| v.clamp(0, i64::from(map.height)) as u32;
        let r = Rect {
            x0: cx(x0),
            y0: cy(y0),
            x1: cx(x1),
            y1: cy(y1),
        };
        (!r.is_empty()).then_some(r)
    }
}
