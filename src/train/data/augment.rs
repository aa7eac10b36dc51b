//! Augmentation shared by the label map, the instance map and the photo of one example
//! (pix2pixHD/SPADE `get_params` + `get_transform`): resize to the load size, crop at a
//! random offset to the crop size, flip horizontally with probability 1/2. Label and
//! instance maps are always resized nearest; photos with a triangle (bilinear) filter.
use image::{imageops::FilterType, RgbImage};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Sizes are width x height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    pub load_width: u32,
    pub load_height: u32,
    pub crop_width: u32,
    pub crop_height: u32,
    pub flip: bool,
}

impl Augment {
    /// No random crop: resize straight to `width` x `height`, optional flip.
    pub fn resize_only(width: u32, height: u32, flip: bool) -> Self {
        Self {
            load_width: width,
            load_height: height,
            crop_width: width,
            crop_height: height,
            flip,
        }
    }

    /// Draws the crop offset and the flip for one example.
    pub fn draw(&self, rng: &mut impl Rng) -> Placement {
        let x = rng.random_range(0..=self.load_width.saturating_sub(self.crop_width));
        let y = rng.random_range(0..=self.load_height.saturating_sub(self.crop_height));
        let flip = self.flip && rng.random_bool(0.5);
        Placement { x, y, flip }
    }
}

/// Where the crop of one example lies and whether it is flipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: u32,
    pub y: u32,
    pub flip: bool,
}

/// Crops (and flips) a resized plane to the augment's crop size.
fn crop_plane<T: Copy>(plane: &[T], width: u32, aug: &Augment, at: Placement) -> Vec<T> {
    let (cw, ch) = (aug.crop_width as usize, aug.crop_height as usize);
    let mut out = Vec::with_capacity(cw * ch);
    for y in 0..ch {
        let start = (at.y as usize + y) * width as usize + at.x as usize;
        let row = &plane[start..start + cw];
        if at.flip {
            out.extend(row.iter().rev());
        } else {
            out.extend_from_slice(row);
        }
    }
    out
}

/// A label or instance plane through resize (nearest), crop and flip.
pub fn apply_to_plane<T: Copy>(
    plane: &[T],
    width: u32,
    height: u32,
    aug: &Augment,
    at: Placement,
) -> Vec<T> {
    let resized = crate::labelmap::resize_nearest_plane(
        plane,
        width,
        height,
        aug.load_width,
        aug.load_height,
    );
    crop_plane(&resized, aug.load_width, aug, at)
}

/// A photo through resize (triangle filter), crop and flip: interleaved RGB bytes.
pub fn apply_to_photo(photo: &RgbImage, aug: &Augment, at: Placement) -> Vec<[u8; 3]> {
    let resized = if photo.dimensions() == (aug.load_width, aug.load_height) {
        photo.clone()
    } else {
        image::imageops::resize(photo, aug.load_width, aug.load_height, FilterType::Triangle)
    };
    let pixels: Vec<[u8; 3]> = resized.pixels().map(|p| p.0).collect();
    crop_plane(&pixels, aug.load_width, aug, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn label_and_photo_get_the_same_crop_and_flip() {
        // Pixel value = its column, in both the label and the photo.
        let (w, h) = (8u32, 4u32);
        let label: Vec<u16> = (0..w * h).map(|i| (i % w) as u16).collect();
        let photo = RgbImage::from_fn(w, h, |x, _| image::Rgb([x as u8 * 10, 0, 0]));
        let aug = Augment {
            load_width: 8,
            load_height: 4,
            crop_width: 4,
            crop_height: 2,
            flip: true,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut flips = 0;
        for _ in 0..20 {
            let at = aug.draw(&mut rng);
            flips += usize::from(at.flip);
            let l = apply_to_plane(&label, w, h, &aug, at);
            let p = apply_to_photo(&photo, &aug, at);
            assert_eq!(l.len(), 8);
            assert!(
                l.iter().zip(&p).all(|(id, px)| *id as u8 * 10 == px[0]),
                "{l:?} {p:?}"
            );
            let expected_first = if at.flip { at.x + 3 } else { at.x };
            assert_eq!(u32::from(l[0]), expected_first);
        }
        assert!(flips > 0 && flips < 20, "flip is random: {flips}/20");
    }
}
