//! The windows an incremental frame (`spade_incremental.rs`) cuts out of cached activations and
//! writes back: a changed region grows by each convolution's reach, is recomputed on a window
//! with a margin wide enough that the window's cut edges do not reach it, and is pasted into
//! the cache. Rectangles are the crate's [`Rect`].
use super::planes::Planes;
pub use crate::rect::Rect;

/// The pixels of `rect` of every channel, as planes of its size.
pub fn crop(planes: &Planes, rect: Rect) -> Planes {
    if rect == Rect::full(planes.width, planes.height) {
        return planes.clone();
    }
    let (width, cols) = (rect.width() as usize, rect.cols());
    let mut out = Planes::zeros(planes.channels, rect.height() as usize, width);
    let plane = out.plane_len();
    for (c, dst) in out.data.chunks_exact_mut(plane.max(1)).enumerate() {
        let src = planes.channel(c);
        for (row, y) in dst.chunks_exact_mut(width).zip(rect.rows()) {
            let start = y * planes.width;
            row.copy_from_slice(&src[start + cols.start..start + cols.end]);
        }
    }
    out
}

/// Writes `source`'s pixels of `from` (its own coordinates) into `target` at `to`, each source
/// pixel repeated `factor` times across and down (nearest upsampling when > 1); `to` is `from`'s
/// size times the factor. Returns the bounding rectangle, in `target`'s coordinates, of the
/// pixels whose value changed by more than `tolerance` in some channel (0: any change).
pub fn paste_changed(
    target: &mut Planes,
    to: Rect,
    source: &Planes,
    from: Rect,
    factor: u32,
    tolerance: f32,
) -> Option<Rect> {
    debug_assert_eq!(
        (to.width(), to.height()),
        (from.width() * factor, from.height() * factor)
    );
    let (factor, to_width) = (factor as usize, to.width() as usize);
    let (width, plane) = (target.width, target.plane_len());
    let mut changed = vec![false; to.area()];
    for (c, data) in target.data.chunks_exact_mut(plane.max(1)).enumerate() {
        let src_plane = source.channel(c);
        for y in to.rows() {
            let sy = from.y0 as usize + (y - to.y0 as usize) / factor;
            let src = &src_plane[sy * source.width..(sy + 1) * source.width];
            let row = &mut data[y * width + to.x0 as usize..y * width + to.x1 as usize];
            let local = (y - to.y0 as usize) * to_width;
            let flags = &mut changed[local..local + to_width];
            for (i, (value, flag)) in row.iter_mut().zip(flags.iter_mut()).enumerate() {
                let new = src[from.x0 as usize + i / factor];
                *flag |= (new - *value).abs() > tolerance;
                *value = new;
            }
        }
    }
    Rect::bounding(changed.into_iter(), to_width)
        .map(|r| r.offset(i64::from(to.x0), i64::from(to.y0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: u32, y0: u32, x1: u32, y1: u32) -> Rect {
        Rect { x0, y0, x1, y1 }
    }

    #[test]
    fn rectangles_grow_inside_the_plane_and_scale() {
        let r = rect(5, 1, 6, 3);
        assert_eq!(r.grow(2, 7, 4), rect(3, 0, 7, 4));
        assert_eq!(r.scaled(2, 2), rect(10, 2, 12, 6));
        assert_eq!(r.relative_to(rect(4, 1, 7, 4)), rect(1, 0, 2, 2));
        let mask = [false, true, false, false, false, true];
        assert_eq!(Rect::bounding(mask.into_iter(), 3), Some(rect(1, 0, 3, 2)));
        assert_eq!(Rect::bounding([false; 4].into_iter(), 2), None);
    }

    #[test]
    fn paste_upsamples_and_reports_what_changed() {
        let source = Planes::new(1, 2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let old = [
            1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 0., 0., 3., 3., 0., 0.,
        ];
        let mut target = Planes::new(1, 4, 4, old.to_vec()).unwrap();
        let (all, small) = (Rect::full(4, 4), Rect::full(2, 2));
        let changed = paste_changed(&mut target, all, &source, small, 2, 0.0);
        assert_eq!(changed, Some(rect(2, 2, 4, 4)));
        assert_eq!(&target.data[8..], &[3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]);
        assert_eq!(crop(&target, rect(2, 1, 3, 3)).data, vec![2.0, 4.0]);
        assert_eq!(
            paste_changed(&mut target, all, &source, small, 2, 0.0),
            None
        );
        // A change of 0.5 is below a tolerance of 1.
        let nudged = Planes::new(1, 2, 2, vec![1.0, 2.0, 3.0, 4.5]).unwrap();
        assert_eq!(
            paste_changed(&mut target, all, &nudged, small, 2, 1.0),
            None
        );
        assert_eq!(
            target.data[15], 4.5,
            "written even when below the tolerance"
        );
    }
}
