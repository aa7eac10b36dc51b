//! Which `mlp_shared` activations a level's boundary pixels read, by label window (issue 15's
//! preview budget). SPADE's `relu(mlp_shared(seg))` at a pixel depends only on the k x k
//! window of signatures around it (zero padding past the edge), and a label map holds few
//! distinct windows: on YCOR's maps at 256x128 about 600 for 3500 pixels whose window is not
//! one signature, and 6300 boundary pixels (`seg.rs`) read them. So a norm computes each
//! distinct activation once, and `mlp_gamma`/`mlp_beta` of a boundary pixel become a sum over
//! kernel taps of per-(tap, activation) products (`spade_norm.rs`), in place of a product of
//! k^2 hidden channels per pixel.
use std::collections::HashMap;

/// A tap past the image's edge: nothing is read (zero padding).
pub(crate) const NO_PIXEL: u32 = u32::MAX;
/// A window value past the image's edge.
const OUTSIDE: u16 = u16::MAX;

/// The distinct activations of a level and which one each boundary pixel's taps read.
#[derive(Debug, Clone)]
pub(crate) struct HiddenWindows {
    /// The taps of one window: `kernel x kernel`.
    pub taps: usize,
    /// Windows that are not one signature, `taps` values each (a signature, or past the
    /// edge): activation `signature_count + i` is window `i`'s; activations below
    /// `signature_count` are the signatures' own (a window of one signature).
    pub windows: Vec<u16>,
    /// Per boundary pixel, `taps` activation ids in tap order (row-major over the kernel), or
    /// [`NO_PIXEL`] for a tap past the edge.
    pub boundary_taps: Vec<u32>,
}

impl HiddenWindows {
    /// For the raster `sig` (`width` wide), whose pixels with `uniform_near` have a window
    /// of one signature inside the image, and its `boundary` pixels; `radius` is half the
    /// kernel.
    pub fn new(
        sig: &[u16],
        width: usize,
        uniform_near: &[bool],
        boundary: &[u32],
        radius: usize,
        signature_count: usize,
    ) -> Self {
        let k = 2 * radius + 1;
        let taps = k * k;
        let height = sig.len() / width.max(1);
        let offsets = |p: usize| {
            let (y, x) = (p / width, p % width);
            (0..taps).map(move |t| {
                let yy = (y + t / k).checked_sub(radius).filter(|&v| v < height);
                let xx = (x + t % k).checked_sub(radius).filter(|&v| v < width);
                yy.zip(xx).map(|(yy, xx)| yy * width + xx)
            })
        };
        let mut ids: HashMap<Vec<u16>, u32> = HashMap::new();
        let mut windows = Vec::new();
        let mut key = vec![0u16; taps];
        // Activation ids by pixel, found once per pixel some boundary pixel reads
        // (`NO_PIXEL`: not yet).
        let mut id_of = vec![NO_PIXEL; sig.len()];
        let mut boundary_taps = Vec::with_capacity(boundary.len() * taps);
        for &b in boundary {
            for q in offsets(b as usize) {
                let Some(q) = q else {
                    boundary_taps.push(NO_PIXEL);
                    continue;
                };
                if id_of[q] == NO_PIXEL {
                    id_of[q] = if uniform_near[q] {
                        u32::from(sig[q])
                    } else {
                        for (slot, r) in key.iter_mut().zip(offsets(q)) {
                            *slot = r.map_or(OUTSIDE, |r| sig[r]);
                        }
                        match ids.get(key.as_slice()) {
                            Some(&id) => id,
                            None => {
                                let id = (signature_count + windows.len() / taps) as u32;
                                windows.extend_from_slice(&key);
                                ids.insert(key.clone(), id);
                                id
                            }
                        }
                    };
                }
                boundary_taps.push(id_of[q]);
            }
        }
        Self {
            taps,
            windows,
            boundary_taps,
        }
    }

    /// How many distinct activations there are: the signatures', then the windows'.
    pub fn activation_count(&self, signature_count: usize) -> usize {
        signature_count + self.windows.len() / self.taps.max(1)
    }

    /// The signature at tap `t` of window `i`, `None` past the edge.
    pub fn window_tap(&self, i: usize, t: usize) -> Option<u16> {
        Some(self.windows[i * self.taps + t]).filter(|&s| s != OUTSIDE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window of `p` read directly: its k x k signatures, None past the edge.
    fn window(sig: &[u16], width: usize, p: usize, radius: usize) -> Vec<Option<u16>> {
        let height = sig.len() / width;
        let (y, x) = ((p / width) as isize, (p % width) as isize);
        let r = radius as isize;
        let mut out = Vec::new();
        for dy in -r..=r {
            for dx in -r..=r {
                let (yy, xx) = (y + dy, x + dx);
                let inside =
                    (0..height as isize).contains(&yy) && (0..width as isize).contains(&xx);
                out.push(inside.then(|| sig[yy as usize * width + xx as usize]));
            }
        }
        out
    }

    #[test]
    fn every_boundary_tap_names_the_window_it_reads() {
        // Three regions and a one-pixel island on a 9 x 7 raster; the border pixels read
        // windows past the edge.
        let (width, height, radius) = (9usize, 7usize, 1usize);
        let sig: Vec<u16> = (0..width * height)
            .map(|p| {
                let (y, x) = (p / width, p % width);
                match (y, x) {
                    (3, 6) => 2,
                    (_, x) if x < 4 => 0,
                    _ => 1,
                }
            })
            .collect();
        let signature_count = 3;
        let uniform_near: Vec<bool> = (0..sig.len())
            .map(|p| {
                let w = window(&sig, width, p, radius);
                w.iter().all(|s| *s == Some(sig[p]))
            })
            .collect();
        // Every pixel whose 2-radius window is not one signature.
        let boundary: Vec<u32> = (0..sig.len() as u32)
            .filter(|&p| {
                let w = window(&sig, width, p as usize, 2 * radius);
                !w.iter().all(|s| *s == Some(sig[p as usize]))
            })
            .collect();
        let hidden = HiddenWindows::new(&sig, width, &uniform_near, &boundary, radius, 3);
        assert_eq!(hidden.taps, 9);
        assert_eq!(hidden.boundary_taps.len(), boundary.len() * 9);
        let count = hidden.activation_count(signature_count);
        assert!(count > signature_count && count < signature_count + boundary.len());
        for (b, &p) in boundary.iter().enumerate() {
            let (y, x) = (p as isize / width as isize, p as isize % width as isize);
            for t in 0..9 {
                let (yy, xx) = (y + t as isize / 3 - 1, x + t as isize % 3 - 1);
                let id = hidden.boundary_taps[b * 9 + t];
                let inside =
                    (0..height as isize).contains(&yy) && (0..width as isize).contains(&xx);
                if !inside {
                    assert_eq!(id, NO_PIXEL);
                    continue;
                }
                let q = yy as usize * width + xx as usize;
                let expected = window(&sig, width, q, radius);
                let found: Vec<Option<u16>> = match (id as usize).checked_sub(signature_count) {
                    None => vec![Some(id as u16); 9],
                    Some(i) => (0..9).map(|t| hidden.window_tap(i, t)).collect(),
                };
                assert_eq!(
                    found, expected,
                    "pixel {q} read by boundary pixel {p} tap {t}"
                );
            }
        }
    }
}
