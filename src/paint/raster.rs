//! Rasterising tools onto a label map: round brush segments, flood fill, filled rectangle and
//! ellipse. Every operation writes whole class ids (no anti-aliasing, no blending) and returns the
//! bounding rectangle of what it touched so callers update only that part of a texture or history.
use crate::labelmap::LabelMap;
pub use crate::rect::Rect;

/// Where a round brush of `size_px` is centred for a pointer at `pos` (image coordinates):
/// odd sizes centre on a pixel centre, even sizes on a pixel corner, so a brush of size n
/// always covers the same symmetric footprint.
pub fn brush_centre(pos: [f32; 2], size_px: u32) -> [f64; 2] {
    let snap = |v: f32| {
        if size_px % 2 == 1 {
            f64::from(v).floor() + 0.5
        } else {
            f64::from(v).round()
        }
    };
    [snap(pos[0]), snap(pos[1])]
}

/// Paints every pixel whose centre lies within `size_px / 2` of the segment a-b (a capsule);
/// a == b is a single round dab. Returns the changed-pixel bounds, or None if nothing changed.
pub fn brush_segment(
    map: &mut LabelMap,
    a: [f32; 2],
    b: [f32; 2],
    size_px: u32,
    id: u16,
) -> Option<Rect> {
    let size_px = size_px.max(1);
    let (pa, pb) = (brush_centre(a, size_px), brush_centre(b, size_px));
    let r = f64::from(size_px) / 2.0;
    // A tiny tolerance keeps footprints symmetric despite float rounding.
    let r2 = r * r + 1e-9;
    let bx0 = (pa[0].min(pb[0]) - r).floor() as i64;
    let by0 = (pa[1].min(pb[1]) - r).floor() as i64;
    let bx1 = (pa[0].max(pb[0]) + r).ceil() as i64 + 1;
    let by1 = (pa[1].max(pb[1]) + r).ceil() as i64 + 1;
    let bounds = Rect::clamped(map, bx0, by0, bx1, by1)?;
    let (dx, dy) = (pb[0] - pa[0], pb[1] - pa[1]);
    let len2 = dx * dx + dy * dy;
    let mut changed = None;
    for y in bounds.y0..bounds.y1 {
        for x in bounds.x0..bounds.x1 {
            let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let t = if len2 > 0.0 {
                (((px - pa[0]) * dx + (py - pa[1]) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (qx, qy) = (pa[0] + t * dx - px, pa[1] + t * dy - py);
            if qx * qx + qy * qy <= r2 {
                changed = Rect::merge(changed, set_pixel(map, x, y, id));
            }
        }
    }
    changed
}

fn set_pixel(map: &mut LabelMap, x: u32, y: u32, id: u16) -> Option<Rect> {
    let i = map.offset(x, y);
    if map.ids[i] == id {
        return None;
    }
    map.ids[i] = id;
    Some(Rect {
        x0: x,
        y0: y,
        x1: x + 1,
        y1: y + 1,
    })
}

/// 4-connected flood fill from (x, y) with `id` (scanline algorithm: memory stays O(height)).
pub fn flood_fill(map: &mut LabelMap, x: u32, y: u32, id: u16) -> Option<Rect> {
    if x >= map.width || y >= map.height {
        return None;
    }
    let target = map.get(x, y);
    if target == id {
        return None;
    }
    let (w, h) = (map.width, map.height);
    let mut changed = Rect {
        x0: x,
        y0: y,
        x1: x + 1,
        y1: y + 1,
    };
    let mut stack = vec![(x, y)];
    while let Some((sx, sy)) = stack.pop() {
        if map.get(sx, sy) != target {
            continue;
        }
        let mut left = sx;
        while left > 0 && map.get(left - 1, sy) == target {
            left -= 1;
        }
        let mut right = sx;
        while right + 1 < w && map.get(right + 1, sy) == target {
            right += 1;
        }
        let row = sy as usize * w as usize;
        map.ids[row + left as usize..=row + right as usize].fill(id);
        changed = changed.union(Rect {
            x0: left,
            y0: sy,
            x1: right + 1,
            y1: sy + 1,
        });
        for ny in [sy.checked_sub(1), (sy + 1 < h).then_some(sy + 1)]
            .into_iter()
            .flatten()
        {
            push_runs(map, left, right, ny, target, &mut stack);
        }
    }
    Some(changed)
}

/// Pushes one seed per run of `target` pixels in row `y` between `left..=right`.
fn push_runs(
    map: &LabelMap,
    left: u32,
    right: u32,
    y: u32,
    target: u16,
    stack: &mut Vec<(u32, u32)>,
) {
    let mut in_run = false;
    for x in left..=right {
        let hit = map.get(x, y) == target;
        if hit && !in_run {
            stack.push((x, y));
        }
        in_run = hit;
    }
}

/// Normalised inclusive pixel box spanned by two corner pixels.
fn corners(a: [i64; 2], b: [i64; 2]) -> (i64, i64, i64, i64) {
    (
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[0].max(b[0]),
        a[1].max(b[1]),
    )
}

/// Filled rectangle covering both corner pixels.
pub fn fill_rect(map: &mut LabelMap, a: [i64; 2], b: [i64; 2], id: u16) -> Option<Rect> {
    let (x0, y0, x1, y1) = corners(a, b);
    let r = Rect::clamped(map, x0, y0, x1 + 1, y1 + 1)?;
    let mut changed = None;
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            changed = Rect::merge(changed, set_pixel(map, x, y, id));
        }
    }
    changed
}

/// Filled ellipse inscribed in the box spanned by two corner pixels (pixel centres inside).
pub fn fill_ellipse(map: &mut LabelMap, a: [i64; 2], b: [i64; 2], id: u16) -> Option<Rect> {
    let (x0, y0, x1, y1) = corners(a, b);
    let (cx, cy) = ((x0 + x1 + 1) as f64 / 2.0, (y0 + y1 + 1) as f64 / 2.0);
    let (rx, ry) = ((x1 - x0 + 1) as f64 / 2.0, (y1 - y0 + 1) as f64 / 2.0);
    let r = Rect::clamped(map, x0, y0, x1 + 1, y1 + 1)?;
    let mut changed = None;
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let nx = (f64::from(x) + 0.5 - cx) / rx;
            let ny = (f64::from(y) + 0.5 - cy) / ry;
            if nx * nx + ny * ny <= 1.0 + 1e-9 {
                changed = Rect::merge(changed, set_pixel(map, x, y, id));
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(map: &LabelMap, id: u16) -> usize {
        map.ids.iter().filter(|&&v| v == id).count()
    }

    #[test]
    fn dab_footprints_by_size() {
        for (size, expect) in [(1, 1), (2, 4), (3, 9), (4, 12), (5, 21)] {
            let mut map = LabelMap::new(16, 16, 0);
            brush_segment(&mut map, [8.3, 8.6], [8.3, 8.6], size, 1).unwrap();
            assert_eq!(count(&map, 1), expect, "size {size}");
        }
    }

    #[test]
    fn size_one_dab_hits_pixel_under_pointer() {
        let mut map = LabelMap::new(5, 3, 0);
        let r = brush_segment(&mut map, [3.9, 1.1], [3.9, 1.1], 1, 7).unwrap();
        assert_eq!(map.get(3, 1), 7);
        assert_eq!(
            r,
            Rect {
                x0: 3,
                y0: 1,
                x1: 4,
                y1: 2
            }
        );
    }

    #[test]
    fn segment_is_gap_free_and_bounded() {
        let mut map = LabelMap::new(40, 20, 0);
        let r = brush_segment(&mut map, [2.5, 10.5], [37.5, 10.5], 3, 2).unwrap();
        for x in 1..=38 {
            assert_eq!(map.get(x, 10), 2, "x {x}");
        }
        assert_eq!(map.get(20, 8), 0);
        assert_eq!(
            r,
            Rect {
                x0: 1,
                y0: 9,
                x1: 39,
                y1: 12
            }
        );
        // Clipping: a dab off the edge still paints the visible part only.
        let r = brush_segment(&mut map, [0.0, 0.0], [0.0, 0.0], 4, 3).unwrap();
        assert_eq!(
            r,
            Rect {
                x0: 0,
                y0: 0,
                x1: 2,
                y1: 2
            }
        );
        assert!(brush_segment(&mut map, [-50.0, -50.0], [-50.0, -50.0], 4, 3).is_none());
    }

    #[test]
    fn flood_fill_is_four_connected() {
        // A diagonal wall of 1s: 4-connected fill must not leak through the diagonal gaps.
        let mut map = LabelMap::new(6, 6, 0);
        for i in 0..6 {
            map.set(i, 5 - i, 1);
        }
        let r = flood_fill(&mut map, 0, 0, 2).unwrap();
        assert_eq!(
            r,
            Rect {
                x0: 0,
                y0: 0,
                x1: 5,
                y1: 5
            }
        );
        assert_eq!(count(&map, 2), 15);
        assert_eq!(map.get(5, 5), 0);
        assert!(
            flood_fill(&mut map, 0, 0, 2).is_none(),
            "same class is a no-op"
        );
    }

    #[test]
    fn flood_fill_follows_winding_region() {
        // A spiral-ish region needs both up and down seeds.
        let rows = ["00000", "11110", "00010", "01110", "00000"];
        let ids: Vec<u16> = rows.concat().bytes().map(|b| u16::from(b - b'0')).collect();
        let mut map = LabelMap::from_ids(5, 5, ids).unwrap();
        flood_fill(&mut map, 0, 2, 5).unwrap();
        assert_eq!(count(&map, 5), 17, "{:?}", map.ids);
        assert_eq!(count(&map, 1), 8);
    }

    #[test]
    fn rect_and_ellipse() {
        let mut map = LabelMap::new(10, 8, 0);
        let r = fill_rect(&mut map, [6, 5], [2, 1], 4).unwrap();
        assert_eq!(
            r,
            Rect {
                x0: 2,
                y0: 1,
                x1: 7,
                y1: 6
            }
        );
        assert_eq!(count(&map, 4), 25);
        let mut map = LabelMap::new(10, 8, 0);
        fill_ellipse(&mut map, [0, 0], [8, 4], 1).unwrap();
        assert_eq!(map.get(4, 2), 1);
        assert_eq!(map.get(0, 0), 0);
        assert_eq!(map.get(0, 2), 1);
        assert_eq!(map.get(8, 2), 1);
        assert_eq!(map.get(9, 2), 0);
        let symmetric = (0..5).all(|y| (0..9).all(|x| map.get(x, y) == map.get(8 - x, 4 - y)));
        assert!(symmetric);
    }
}
