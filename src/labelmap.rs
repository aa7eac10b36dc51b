//! Label maps (one class id per pixel) and their PNG forms.
//!
//! Two on-disk forms exist in the datasets we use: *index* PNGs, whose raw sample values are class
//! ids (8/16-bit grayscale as in COCO-Stuff/Cityscapes/ADE20K, or palette-mode as in YCOR, whose
//! palette index is the id), and *colour* PNGs, whose RGB values are looked up in a palette.
//! Reading never guesses silently: unknown colours and ids outside the palette are errors that name
//! the file and list what was found; mapping unknown colours to the nearest class is an explicit
//! option.
use crate::labels::Palette;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;

/// A `width` x `height` grid of class ids, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    pub width: u32,
    pub height: u32,
    pub ids: Vec<u16>,
}

/// Nearest-neighbour resize of a row-major plane, as PyTorch's `nearest` (source index
/// floor(dst * in / out)): the one rule by which label maps and id grids are resized, for the
/// painter, the networks and training alike (ids are categories and are never blended).
pub fn resize_nearest_plane<T: Copy>(
    plane: &[T],
    width: u32,
    height: u32,
    out_width: u32,
    out_height: u32,
) -> Vec<T> {
    if (width, height) == (out_width, out_height) {
        return plane.to_vec();
    }
    let (w, h) = (width as usize, height as usize);
    let (ow, oh) = (out_width as usize, out_height as usize);
    let cols: Vec<usize> = (0..ow).map(|x| (x * w / ow).min(w - 1)).collect();
    let mut out = Vec::with_capacity(ow * oh);
    for y in 0..oh {
        let row = (y * h / oh).min(h - 1) * w;
        out.extend(cols.iter().map(|&x| plane[row + x]));
    }
    out
}

impl LabelMap {
    /// The map at another size, nearest neighbour ([`resize_nearest_plane`]).
    pub fn resize_nearest(&self, width: u32, height: u32) -> LabelMap {
        LabelMap {
            width,
            height,
            ids: resize_nearest_plane(&self.ids, self.width, self.height, width, height),
        }
    }

    /// A map filled with one id.
    pub fn new(width: u32, height: u32, fill: u16) -> Self {
        LabelMap {
            width,
            height,
            ids: vec![fill; width as usize * height as usize],
        }
    }

    /// Wraps ids, checking their count matches the size.
    pub fn from_ids(width: u32, height: u32, ids: Vec<u16>) -> Result<Self> {
        let expected = width as usize * height as usize;
        if ids.len() != expected {
            return Err(Error::msg(format!(
                "label map {width}x{height} needs {expected} ids, got {}",
                ids.len()
            )));
        }
        Ok(LabelMap { width, height, ids })
    }

    pub fn in_bounds(&self, x: i64, y: i64) -> bool {
        x >= 0 && y >= 0 && x < i64::from(self.width) && y < i64::from(self.height)
    }

    /// The id at (x, y); panics on out-of-range coordinates like slice indexing.
    pub fn get(&self, x: u32, y: u32) -> u16 {
        self.ids[self.offset(x, y)]
    }

    pub fn set(&mut self, x: u32, y: u32, id: u16) {
        let i = self.offset(x, y);
        self.ids[i] = id;
    }

    pub fn offset(&self, x: u32, y: u32) -> usize {
        y as usize * self.width as usize + x as usize
    }

    /// Pixel count per id, ascending by id.
    pub fn histogram(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for &id in &self.ids {
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    }

    /// RGB bytes (3 per pixel) of the map drawn with the palette's colours.
    pub fn to_rgb(&self, palette: &Palette) -> Vec<u8> {
        let lut = palette.colour_lut();
        self.ids
            .iter()
            .flat_map(|&id| lut[usize::from(id)])
            .collect()
    }
}

pub use crate::error::LabelMapError;

/// How to treat colours of a colour PNG that the palette does not contain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownColour {
    /// Fail with [`LabelMapError::UnknownColours`].
    #[default]
    Error,
    /// Replace each unknown colour by the class with the nearest colour.
    MapToNearest,
}

/// Which form a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PngKind {
    Index,
    Colour,
}

/// Reads a label map, failing on unknown colours or ids.
pub fn read_label_map(path: impl AsRef<Path>, palette: &Palette) -> Result<LabelMap> {
    read_label_map_with(path, palette, UnknownColour::Error).map(|(map, _)| map)
}

/// Reads a label map, auto-detecting index vs colour PNG; also says which form it was.
pub fn read_label_map_with(
    path: impl AsRef<Path>,
    palette: &Palette,
    unknown: UnknownColour,
) -> Result<(LabelMap, PngKind)> {
    let path = path.as_ref();
    decoded_to_map(path, decode(path)?, palette, unknown)
}

/// Reads a label map PNG held in memory (one built into the binary); `name` stands for its
/// path in messages.
pub fn read_label_map_bytes(name: &Path, png: &[u8], palette: &Palette) -> Result<LabelMap> {
    let decoded = decode_png(name, std::io::Cursor::new(png))?
        .ok_or_else(|| image_error(name, "not a PNG"))?;
    decoded_to_map(name, decoded, palette, UnknownColour::Error).map(|(map, _)| map)
}

fn decoded_to_map(
    path: &Path,
    decoded: Decoded,
    palette: &Palette,
    unknown: UnknownColour,
) -> Result<(LabelMap, PngKind)> {
    match decoded {
        Decoded::Index {
            width,
            height,
            ids,
            plte,
        } => {
            let map = LabelMap { width, height, ids };
            match check_ids(path, &map, palette) {
                Ok(()) => Ok((map, PngKind::Index)),
                // A palette PNG whose indices are not ids may still be a colour map that was saved
                // in palette mode (common with image editors): use its colours if all are known.
                Err(e) => match plte.and_then(|p| recolour_from_plte(&map, &p, palette)) {
                    Some(recoloured) => Ok((recoloured, PngKind::Colour)),
                    None => Err(e),
                },
            }
        }
        Decoded::Rgb { width, height, rgb } => {
            let ids = map_colours(path, &rgb, palette, unknown)?;
            Ok((LabelMap { width, height, ids }, PngKind::Colour))
        }
    }
}

enum Decoded {
    Index {
        width: u32,
        height: u32,
        ids: Vec<u16>,
        plte: Option<Vec<u8>>,
    },
    Rgb {
        width: u32,
        height: u32,
        rgb: Vec<[u8; 3]>,
    },
}

fn image_error(path: &Path, message: impl ToString) -> Error {
    Error::Image {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn decode(path: &Path) -> Result<Decoded> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    match decode_png(path, BufReader::new(file))? {
        Some(decoded) => Ok(decoded),
        None => decode_other(path),
    }
}

/// `None` when the bytes are not a PNG.
fn decode_png(
    path: &Path,
    source: impl std::io::BufRead + std::io::Seek,
) -> Result<Option<Decoded>> {
    let mut decoder = png::Decoder::new(source);
    decoder.set_transformations(png::Transformations::IDENTITY);
    let Ok(mut reader) = decoder.read_info() else {
        return Ok(None);
    };
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    crate::image_limits::check_size(
        path,
        "label map",
        (width, height),
        crate::image_limits::MAX_LABEL_SIDE,
    )?;
    let (colour, depth) = (info.color_type, info.bit_depth as u8);
    let plte = info.palette.as_ref().map(|p| p.to_vec());
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| image_error(path, "image too large"))?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| image_error(path, e))?;
    let stride = frame.line_size;
    use png::ColorType as C;
    let channels = match colour {
        C::Grayscale | C::Indexed => 1,
        C::GrayscaleAlpha => 2,
        C::Rgb => 3,
        C::Rgba => 4,
    };
    let rows = buf.chunks(stride).take(height as usize);
    let samples: Vec<u16> = rows
        .flat_map(|row| unpack_row(row, depth, width as usize * channels))
        .collect();
    let pixels = samples.chunks(channels);
    match colour {
        C::Grayscale | C::GrayscaleAlpha | C::Indexed => {
            let ids = pixels.map(|p| p[0]).collect();
            let plte = if colour == C::Indexed { plte } else { None };
            Ok(Some(Decoded::Index {
                width,
                height,
                ids,
                plte,
            }))
        }
        C::Rgb | C::Rgba => {
            let to8 = |v: u16| if depth == 16 { (v >> 8) as u8 } else { v as u8 };
            let rgb = pixels.map(|p| [to8(p[0]), to8(p[1]), to8(p[2])]).collect();
            Ok(Some(Decoded::Rgb { width, height, rgb }))
        }
    }
}

/// Non-PNG files (e.g. a JPEG) can only be colour maps.
fn decode_other(path: &Path) -> Result<Decoded> {
    let img =
        crate::image_limits::open_limited(path, "label map", crate::image_limits::MAX_LABEL_SIDE)?
            .to_rgb8();
    let (width, height) = img.dimensions();
    let rgb = img.pixels().map(|p| p.0).collect();
    Ok(Decoded::Rgb { width, height, rgb })
}

/// Raw samples of one PNG row: sub-byte depths unpacked MSB first, 16-bit big-endian.
fn unpack_row(row: &[u8], depth: u8, count: usize) -> Vec<u16> {
    match depth {
        16 => row
            .chunks(2)
            .take(count)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect(),
        8 => row.iter().take(count).map(|&b| u16::from(b)).collect(),
        d => {
            let per_byte = 8 / d as usize;
            let mask = (1u16 << d) - 1;
            (0..count)
                .map(|i| {
                    let byte = u16::from(row[i / per_byte]);
                    let shift = 8 - d as usize * (i % per_byte + 1);
                    (byte >> shift) & mask
                })
                .collect()
        }
    }
}

fn check_ids(path: &Path, map: &LabelMap, palette: &Palette) -> Result<()> {
    let histogram = map.histogram();
    let outside: Vec<(u16, usize)> = histogram
        .iter()
        .filter(|(id, _)| !palette.contains(**id))
        .map(|(id, count)| (*id, *count))
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    let fitting = Palette::builtin_names()
        .into_iter()
        .filter(|name| *name != palette.name)
        .filter(|name| {
            Palette::builtin(name).is_ok_and(|p| histogram.keys().all(|id| p.contains(*id)))
        })
        .map(String::from)
        .collect();
    Err(LabelMapError::IdsOutsidePalette {
        path: path.to_path_buf(),
        palette: palette.name.clone(),
        ids: outside,
        fitting,
    }
    .into())
}

fn recolour_from_plte(map: &LabelMap, plte: &[u8], palette: &Palette) -> Option<LabelMap> {
    let mut lut = BTreeMap::new();
    for &index in map.histogram().keys() {
        let at = usize::from(index) * 3;
        let rgb = plte.get(at..at + 3)?;
        lut.insert(index, palette.id_for_rgb([rgb[0], rgb[1], rgb[2]])?);
    }
    let ids = map.ids.iter().map(|i| lut[i]).collect();
    Some(LabelMap {
        width: map.width,
        height: map.height,
        ids,
    })
}

fn map_colours(
    path: &Path,
    rgb: &[[u8; 3]],
    palette: &Palette,
    unknown: UnknownColour,
) -> Result<Vec<u16>> {
    let mut lut: BTreeMap<[u8; 3], Option<u16>> = BTreeMap::new();
    let mut unknown_counts: BTreeMap<[u8; 3], usize> = BTreeMap::new();
    let mut ids = Vec::with_capacity(rgb.len());
    for &c in rgb {
        let id = *lut.entry(c).or_insert_with(|| palette.id_for_rgb(c));
        match id {
            Some(id) => ids.push(id),
            None => {
                *unknown_counts.entry(c).or_insert(0) += 1;
                ids.push(palette.background);
            }
        }
    }
    if unknown_counts.is_empty() {
        return Ok(ids);
    }
    if unknown == UnknownColour::MapToNearest {
        for (id, c) in ids.iter_mut().zip(rgb) {
            if unknown_counts.contains_key(c) {
                *id = palette.nearest_id(*c);
            }
        }
        return Ok(ids);
    }
    let mut colours: Vec<([u8; 3], usize)> = unknown_counts.into_iter().collect();
    colours.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Err(LabelMapError::UnknownColours {
        path: path.to_path_buf(),
        palette: palette.name.clone(),
        colours,
    }
    .into())
}

/// Writes raw ids as a grayscale PNG: 8-bit when every id fits, else 16-bit.
pub fn write_index_png(path: impl AsRef<Path>, map: &LabelMap) -> Result<()> {
    let path = path.as_ref();
    let (w, h) = (map.width, map.height);
    let result = if map.ids.iter().all(|&id| id <= 255) {
        let bytes: Vec<u8> = map.ids.iter().map(|&id| id as u8).collect();
        image::GrayImage::from_raw(w, h, bytes).map(|img| img.save(path))
    } else {
        image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, map.ids.clone())
            .map(|img| img.save(path))
    };
    match result {
        Some(saved) => saved.map_err(|e| image_error(path, e)),
        None => Err(image_error(
            path,
            format!("label map {w}x{h} has {} ids", map.ids.len()),
        )),
    }
}

/// Writes the map drawn in the palette's colours as an RGB PNG.
pub fn write_colour_png(path: impl AsRef<Path>, map: &LabelMap, palette: &Palette) -> Result<()> {
    let path = path.as_ref();
    let (w, h) = (map.width, map.height);
    let img = image::RgbImage::from_raw(w, h, map.to_rgb(palette))
        .ok_or_else(|| image_error(path, format!("label map {w}x{h} has wrong pixel count")))?;
    img.save(path).map_err(|e| image_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_resize_keeps_ids_and_blocks_and_never_invents_ids() {
        let map = LabelMap::from_ids(2, 2, vec![1, 2, 3, 4]).unwrap();
        let big = map.resize_nearest(4, 4);
        assert_eq!(
            big.ids,
            vec![1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]
        );
        assert_eq!(big.resize_nearest(2, 2), map);
        assert_eq!(
            resize_nearest_plane(&[1u16, 2, 3, 4], 2, 2, 4, 2),
            vec![1, 1, 2, 2, 3, 3, 4, 4]
        );
        assert_eq!(
            resize_nearest_plane(&[1u16, 2, 3, 4, 5, 6], 3, 2, 2, 1),
            vec![1, 2]
        );
        assert_eq!(
            resize_nearest_plane(&[1u16, 2, 3, 4], 2, 2, 4, 1),
            vec![1, 1, 2, 2]
        );
    }

    #[test]
    fn unpack_sub_byte_rows() {
        assert_eq!(unpack_row(&[0b1011_0010], 1, 5), vec![1, 0, 1, 1, 0]);
        assert_eq!(unpack_row(&[0b1101_0011], 2, 4), vec![3, 1, 0, 3]);
        assert_eq!(unpack_row(&[0xA5, 0x30], 4, 3), vec![10, 5, 3]);
        assert_eq!(unpack_row(&[1, 2, 0, 7], 16, 2), vec![258, 7]);
    }
}
