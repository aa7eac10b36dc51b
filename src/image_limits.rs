//! Image sizes checked from the file's header before any pixel is decoded (issue 19): a PNG of
//! a few hundred bytes can claim 100000x100000 pixels, and decoders allocate from the header.
//! Every image the program reads (photos, label maps, instance maps, style photos) goes
//! through these limits; the error names the file, its claimed size and the limit. A photo's
//! EXIF orientation (a phone's portrait shot stored sideways) is applied as image viewers do,
//! so a label map drawn over the photo as a person sees it pairs with it.
use std::path::Path;

use crate::error::{Error, Result};

/// Largest side of a canvas.
pub const MAX_CANVAS_SIDE: u32 = 2048;

/// Largest side of a label or instance map: twice the canvas maximum, so datasets'
/// full-resolution maps (Cityscapes' 2048x1024) load.
pub const MAX_LABEL_SIDE: u32 = 2 * MAX_CANVAS_SIDE;

/// Largest side of a photo (a dataset's image, a style photo): 8192, 192 MiB as RGB.
pub const MAX_PHOTO_SIDE: u32 = 8192;

/// Refuses a `what` (e.g. "label map") of `width` x `height` with a side over `max_side`.
pub fn check_size(
    path: &Path,
    what: &str,
    (width, height): (u32, u32),
    max_side: u32,
) -> Result<()> {
    if width == 0 || height == 0 || width > max_side || height > max_side {
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        return Err(Error::Image {
            path: path.to_path_buf(),
            message: format!(
                "refused before decoding: the {what} ({bytes} bytes) claims {width}x{height} pixels; the limit is 1 to {max_side} per side"
            ),
        });
    }
    Ok(())
}

/// A reader of `path` with its format guessed from the content.
fn guessed_reader(path: &Path) -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>> {
    image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))
}

/// A decoder's error about the image at `path`.
fn image_error(path: &Path) -> impl Fn(image::ImageError) -> Error + Copy + '_ {
    move |e| Error::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Opens and decodes an image of at most `max_side` pixels per side: the header's size is
/// checked first, and the decoder is limited to that size's allocation as well. The image
/// comes turned as its EXIF orientation says.
pub fn open_limited(path: &Path, what: &str, max_side: u32) -> Result<image::DynamicImage> {
    let image_error = image_error(path);
    let probe = guessed_reader(path)?;
    let format = probe.format();
    let size = probe.into_dimensions().map_err(image_error)?;
    check_size(path, what, size, max_side)?;
    if format == Some(image::ImageFormat::Jpeg) {
        check_jpeg_complete(path)?;
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    // RGBA at 16 bits per sample of the checked size, plus the decoder's own buffers.
    limits.max_alloc = Some(u64::from(size.0) * u64::from(size.1) * 8 + (64 << 20));
    let mut reader = guessed_reader(path)?;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    // A broken EXIF block is no reason to refuse the pixels: the image stays as stored.
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// (width, height) of the image at `path` as [`open_limited`] returns it (turned by its EXIF
/// orientation), read from the header without decoding the pixels.
pub fn shown_size(path: &Path) -> Result<(u32, u32)> {
    use image::metadata::Orientation;
    let mut decoder = guessed_reader(path)?
        .into_decoder()
        .map_err(image_error(path))?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    let orientation =
        image::ImageDecoder::orientation(&mut decoder).unwrap_or(Orientation::NoTransforms);
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    Ok(if turned {
        (height, width)
    } else {
        (width, height)
    })
}

/// A JPEG's end-of-image marker (FF D9) must be among its last bytes: the decoder fills a
/// file cut short with grey and reports nothing, so a truncated photo would train silently.
/// Only the tail is searched: an EXIF thumbnail near the start has its own marker.
fn check_jpeg_complete(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 1024;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))
        .map_err(|e| Error::io(path, e))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)
        .map_err(|e| Error::io(path, e))?;
    if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Ok(());
    }
    Err(Error::Image {
        path: path.to_path_buf(),
        message: format!(
            "the JPEG ends without its end-of-image marker after {len} bytes: the file is cut short (an interrupted copy or download?)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_over_the_limit_or_empty_are_refused_with_the_file_named() {
        let path = Path::new("huge.png");
        check_size(path, "photo", (8192, 100), MAX_PHOTO_SIDE).unwrap();
        let err = check_size(path, "photo", (100000, 100000), MAX_PHOTO_SIDE)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("huge.png") && err.contains("100000x100000") && err.contains("8192"),
            "{err}"
        );
        assert!(check_size(path, "label map", (0, 10), MAX_LABEL_SIDE).is_err());
    }

    /// A 4x2 image, red at the top left corner, the rest grey.
    fn marked_image() -> image::RgbImage {
        let mut image = image::RgbImage::from_pixel(4, 2, image::Rgb([128, 128, 128]));
        image.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        image
    }

    /// Little-endian EXIF (TIFF) block with one IFD entry: Orientation = `value`.
    fn exif_orientation(value: u16) -> Vec<u8> {
        let mut exif = b"II*\0".to_vec();
        exif.extend(8u32.to_le_bytes()); // first IFD right after the header
        exif.extend(1u16.to_le_bytes()); // one entry
        exif.extend(0x0112u16.to_le_bytes()); // Orientation
        exif.extend(3u16.to_le_bytes()); // SHORT
        exif.extend(1u32.to_le_bytes()); // one value
        exif.extend(u32::from(value).to_le_bytes());
        exif.extend(0u32.to_le_bytes()); // no next IFD
        exif
    }

    fn is_red(pixel: &image::Rgb<u8>) -> bool {
        pixel[0] > 200 && pixel[1] < 80 && pixel[2] < 80
    }

    #[test]
    fn a_jpeg_comes_turned_as_its_exif_orientation_says() {
        use image::ImageEncoder;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portrait.jpg");
        let mut bytes = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 100);
        encoder.set_exif_metadata(exif_orientation(6)).unwrap(); // turn 90 degrees clockwise
        let stored = marked_image();
        encoder
            .write_image(stored.as_raw(), 4, 2, image::ExtendedColorType::Rgb8)
            .unwrap();
        std::fs::write(&path, bytes).unwrap();
        let shown = open_limited(&path, "photo", MAX_PHOTO_SIDE)
            .unwrap()
            .to_rgb8();
        assert_eq!(shown.dimensions(), (2, 4), "stored 4x2, shown turned");
        assert_eq!(shown_size(&path).unwrap(), (2, 4));
        // The stored top-left corner is the shown top-right one after a clockwise turn.
        assert!(is_red(shown.get_pixel(1, 0)), "{:?}", shown.get_pixel(1, 0));
        assert!(
            !is_red(shown.get_pixel(0, 0)),
            "{:?}",
            shown.get_pixel(0, 0)
        );
    }

    #[test]
    fn bmp_and_webp_photos_decode_as_written() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["photo.bmp", "photo.webp", "photo.png"] {
            let path = dir.path().join(name);
            marked_image().save(&path).unwrap();
            let read = open_limited(&path, "photo", MAX_PHOTO_SIDE)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .to_rgb8();
            assert_eq!(read, marked_image(), "{name}");
        }
    }
}
