//! `scenepaint dataset inspect` and `dataset prepare`: a report of what a dataset folder holds
//! (layout, pairs, sizes, classes with pixel shares, every problem by file), and a resized copy
//! of it with the same layout and file names (labels and instance maps nearest, photos with a
//! triangle filter, which averages over the source area when shrinking). A label map stored at
//! another resolution than its photo (a common way to ship labels) is fine for `prepare` when
//! both have the same shape; one of another shape is a different crop, and stops it.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::layout::{self, Layout};
use super::{label_channel, read_instance, read_photo};
use crate::error::{Error, Result};
use crate::labelmap::{read_label_map, write_index_png, LabelMap};
use crate::labels::Palette;
use crate::nets::encoding::LabelChannels;

/// What `dataset inspect` found.
#[derive(Debug, Clone)]
pub struct Report {
    pub layout: Layout,
    pub palette: String,
    pub label_channels: LabelChannels,
    pub pairs: usize,
    pub with_instances: usize,
    /// (width, height) of the photos -> number of photos.
    pub sizes: BTreeMap<(u32, u32), usize>,
    /// Raw label id -> pixel count over all readable label maps.
    pub class_pixels: BTreeMap<u16, u64>,
    /// Every problem, one per file.
    pub problems: Vec<(PathBuf, String)>,
}

/// Reads every file of the dataset at `root` and reports on it; only a missing or
/// unrecognisable folder is an error, every per-file problem goes into the report.
pub fn inspect(root: &Path, palette: Option<Palette>) -> Result<Report> {
    let scan = layout::scan(root, "train")?;
    let palette = match palette {
        Some(p) => p,
        None => Palette::builtin(scan.layout.palette_name())?,
    };
    let label_channels = scan.layout.label_channels(&palette);
    let mut problems: Vec<(PathBuf, String)> = scan
        .unpaired
        .iter()
        .map(|(p, why)| (p.clone(), why.to_string()))
        .collect();
    let mut sizes = BTreeMap::new();
    let mut class_pixels = BTreeMap::new();
    for pair in &scan.pairs {
        // Decoded whole, not just the header: a truncated file must show up here, not
        // hours into a training run.
        let photo_size = match decoded_size(&pair.image, "photo") {
            Ok(size) => {
                *sizes.entry(size).or_insert(0) += 1;
                Some(size)
            }
            Err(e) => {
                problems.push((pair.image.clone(), format!("unreadable photo: {e}")));
                None
            }
        };
        match read_label_map(&pair.label, &palette) {
            Ok(map) => {
                if let Some(photo) = photo_size.filter(|&s| s != (map.width, map.height)) {
                    problems.push((
                        pair.label.clone(),
                        size_mismatch("label map", (map.width, map.height), photo),
                    ));
                }
                for (id, count) in map.histogram() {
                    if let Err(e) = label_channel(&label_channels, id, &pair.label) {
                        problems.push((pair.label.clone(), e.to_string()));
                    }
                    *class_pixels.entry(id).or_insert(0) += count as u64;
                }
            }
            Err(e) => problems.push((pair.label.clone(), e.to_string())),
        }
        if let Some(path) = &pair.instance {
            match decoded_size(path, "instance map") {
                Ok(size) => {
                    if let Some(photo) = photo_size.filter(|&photo| photo != size) {
                        problems.push((path.clone(), size_mismatch("instance map", size, photo)));
                    }
                }
                Err(e) => problems.push((path.clone(), format!("unreadable instance map: {e}"))),
            }
        }
    }
    Ok(Report {
        layout: scan.layout,
        palette: palette.name.clone(),
        label_channels,
        pairs: scan.pairs.len(),
        with_instances: scan.pairs.iter().filter(|p| p.instance.is_some()).count(),
        sizes,
        class_pixels,
        problems,
    })
}

impl Report {
    /// The report as text lines, classes named through `palette`.
    pub fn to_text(&self, palette: &Palette) -> String {
        let mut out = format!(
            "layout: {:?}\npalette: {}\nlabel_nc: {} (don't care channel: {})\npairs: {} ({} with instance maps)\n",
            self.layout, self.palette, self.label_channels.label_nc(), self.label_channels.contains_dontcare(), self.pairs, self.with_instances
        );
        for ((w, h), count) in &self.sizes {
            out += &format!("size {w}x{h}: {count} photo(s)\n");
        }
        let total: u64 = self.class_pixels.values().sum();
        out += &format!("classes present: {}\n", self.class_pixels.len());
        for (id, count) in &self.class_pixels {
            let name = palette.class(*id).map(|c| c.name.as_str()).unwrap_or("?");
            out += &format!(
                "  {id:>5} {name:<28} {:>7.3}%\n",
                100.0 * *count as f64 / total.max(1) as f64
            );
        }
        out += &format!("problems: {}\n", self.problems.len());
        for (path, why) in &self.problems {
            out += &format!("  {}: {why}\n", path.display());
        }
        out
    }
}

/// Whether two sizes have one shape: scaled to the same width, their heights differ by at
/// most a pixel of the wider, as a label map saved at half its photo's resolution does.
pub fn same_shape((w1, h1): (u32, u32), (w2, h2): (u32, u32)) -> bool {
    let cross = |a: u32, b: u32| u64::from(a) * u64::from(b);
    cross(w1, h2).abs_diff(cross(w2, h1)) <= u64::from(w1.max(w2))
}

/// Why a map of `what` (`"label map"`, `"instance map"`) of `size` does not pair with its
/// photo of `photo` pixels: what `prepare` would do about it, or that it is another crop.
pub fn size_mismatch(what: &str, (w, h): (u32, u32), photo @ (pw, ph): (u32, u32)) -> String {
    let found = format!("{what} is {w}x{h} but its photo is {pw}x{ph}");
    if same_shape((w, h), photo) {
        format!("{found} (the same shape: `dataset prepare` resizes both to one size)")
    } else {
        format!("{found}, another shape: one of them is cropped or belongs to another pair")
    }
}

/// Every pair's photo and maps have one shape ([`same_shape`]), by their headers; otherwise
/// the first that does not, named with both sizes.
fn check_shapes(dataset: &super::Dataset) -> Result<()> {
    use crate::image_limits::shown_size;
    for pair in &dataset.pairs {
        let photo = shown_size(&pair.image)?;
        let maps = [
            Some(("label map", &pair.label)),
            pair.instance.as_ref().map(|p| ("instance map", p)),
        ];
        for (what, path) in maps.into_iter().flatten() {
            let size = shown_size(path)?;
            if !same_shape(size, photo) {
                return Err(Error::msg(format!(
                    "{}: {} ({}); nothing was written",
                    path.display(),
                    size_mismatch(what, size, photo),
                    pair.image.display()
                )));
            }
        }
    }
    Ok(())
}

/// (width, height) of the photo or instance map at `path`, decoding every pixel (within
/// the size limits of `crate::image_limits`), or why it cannot be read.
fn decoded_size(path: &Path, what: &str) -> std::result::Result<(u32, u32), String> {
    let max_side = if what == "photo" {
        crate::image_limits::MAX_PHOTO_SIDE
    } else {
        crate::image_limits::MAX_LABEL_SIDE
    };
    match crate::image_limits::open_limited(path, what, max_side) {
        Ok(image) => Ok((image.width(), image.height())),
        Err(Error::Image { message, .. }) => Err(message),
        Err(other) => Err(other.to_string()),
    }
}

fn mirrored(root: &Path, out: &Path, file: &Path) -> Result<PathBuf> {
    let relative = file.strip_prefix(root).map_err(|_| {
        Error::msg(format!(
            "{}: not under the dataset folder {}",
            file.display(),
            root.display()
        ))
    })?;
    let target = out.join(relative);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(target)
}

fn save_image(image: &image::DynamicImage, path: &Path) -> Result<()> {
    let jpeg = crate::image_formats::is_jpeg(path);
    let result = if jpeg {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let encoder =
            image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 95);
        image.to_rgb8().write_with_encoder(encoder)
    } else {
        image.save(path)
    };
    result.map_err(|e| Error::Image {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Writes a copy of the dataset at `root` resized to `width` x `height` under `out`, with the
/// same layout and names; returns the number of pairs written. Any bad file stops it, and a
/// pair whose photo and maps differ in shape ([`same_shape`]) stops it before anything is
/// written (one of the same shape at another resolution is resized like the rest). `out`
/// may not overlap `root` and must be absent or empty unless `force`
/// ([`crate::outputs::check_output_dir`]).
pub fn prepare(
    root: &Path,
    out: &Path,
    (width, height): (u32, u32),
    palette: Option<Palette>,
    force: bool,
) -> Result<usize> {
    crate::outputs::check_output_dir(out, root, force)?;
    let dataset = super::Dataset::open(root, palette)?;
    check_shapes(&dataset)?;
    for pair in &dataset.pairs {
        let photo = read_photo(&pair.image)?;
        let resized = image::imageops::resize(&photo, width, height, FilterType::Triangle);
        save_image(
            &image::DynamicImage::ImageRgb8(resized),
            &mirrored(root, out, &pair.image)?,
        )?;
        let labels = read_label_map(&pair.label, &dataset.palette)?;
        let ids = crate::labelmap::resize_nearest_plane(
            &labels.ids,
            labels.width,
            labels.height,
            width,
            height,
        );
        write_index_png(
            mirrored(root, out, &pair.label)?,
            &LabelMap { width, height, ids },
        )?;
        if let Some(path) = &pair.instance {
            let (w, h, ids) = read_instance(path)?;
            let ids: Vec<u16> = crate::labelmap::resize_nearest_plane(&ids, w, h, width, height)
                .into_iter()
                .map(|id| u16::try_from(id).unwrap_or(u16::MAX))
                .collect();
            let target = mirrored(root, out, path)?;
            let plane = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(width, height, ids)
                .ok_or_else(|| {
                    Error::msg(format!("{}: instance plane size mismatch", path.display()))
                })?;
            plane.save(&target).map_err(|e| Error::Image {
                path: target.clone(),
                message: e.to_string(),
            })?;
        }
    }
    Ok(dataset.pairs.len())
}

#[cfg(test)]
mod tests {
    use super::same_shape;

    #[test]
    fn one_shape_allows_a_pixel_of_rounding_and_no_more() {
        assert!(same_shape((1024, 544), (512, 272)));
        // 1000x563 halved and rounded down, both ways round.
        assert!(same_shape((1000, 563), (500, 281)));
        assert!(same_shape((500, 281), (1000, 563)));
        assert!(!same_shape((1000, 563), (500, 279)));
        assert!(!same_shape((32, 16), (16, 16)));
        assert!(!same_shape((8, 8), (8, 6)));
    }
}
