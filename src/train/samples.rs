//! Sample grids written during training: one row per example, label map | generated | photo.
use candle_core::{DType, Tensor};
use image::RgbImage;

use crate::error::{Error, Result};
use crate::labels::Palette;
use crate::nets::encoding::LabelChannels;

fn image_rows(images: &Tensor) -> Result<(usize, usize, usize, Vec<u8>)> {
    let (n, c, h, w) = images.dims4()?;
    if c != 3 {
        return Err(Error::msg(format!(
            "sample grid: expected RGB images (N, 3, H, W), found {:?}",
            images.dims()
        )));
    }
    // [-1, 1] -> 0..255, NCHW -> NHWC.
    let bytes = ((images.to_dtype(DType::F32)?.clamp(-1f32, 1f32)? + 1.0)? * 127.5)?
        .round()?
        .permute((0, 2, 3, 1))?
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(|v| v as u8)
        .collect();
    Ok((n, h, w, bytes))
}

/// The grid image: for each example, the label map in palette colours, the generated image
/// and the photo side by side.
pub fn grid(
    labels: &Tensor,
    generated: &Tensor,
    photos: &Tensor,
    palette: &Palette,
    label_channels: &LabelChannels,
) -> Result<RgbImage> {
    let (n, h, w, fake) = image_rows(generated)?;
    let (_, _, _, real) = image_rows(photos)?;
    let channels = labels
        .to_dtype(DType::U32)?
        .flatten_all()?
        .to_vec1::<u32>()?;
    if channels.len() != n * h * w || real.len() != fake.len() {
        return Err(Error::msg(format!(
            "sample grid: label {:?}, generated {:?} and photo {:?} differ in size",
            labels.dims(),
            generated.dims(),
            photos.dims()
        )));
    }
    let mut grid = RgbImage::new((3 * w) as u32, (n * h) as u32);
    for i in 0..n {
        for y in 0..h {
            for x in 0..w {
                let pixel = (i * h + y) * w + x;
                let label = palette.rgb(label_channels.raw_id(channels[pixel]));
                let at = |k: usize, rgb: [u8; 3]| (k, rgb);
                for (column, rgb) in [
                    at(0, label),
                    at(
                        1,
                        [fake[3 * pixel], fake[3 * pixel + 1], fake[3 * pixel + 2]],
                    ),
                    at(
                        2,
                        [real[3 * pixel], real[3 * pixel + 1], real[3 * pixel + 2]],
                    ),
                ] {
                    grid.put_pixel((column * w + x) as u32, (i * h + y) as u32, image::Rgb(rgb));
                }
            }
        }
    }
    Ok(grid)
}
