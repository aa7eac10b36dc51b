//! Paired training data: finding the files ([`layout`]), reading and checking them, the shared
//! augmentation ([`augment`]) and batching into the tensors the networks take. The label
//! encoding follows the published data loaders: ADE20K shifts ids down by one with 0 as
//! "don't care" (channel 150), COCO-Stuff maps 255 to channel 182, the others use ids as is.
pub mod augment;
pub mod inspect;
pub mod layout;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use image::RgbImage;
use rand::Rng;

pub use augment::{Augment, Placement};
pub use layout::{Layout, PairFiles, Scan};

use crate::error::{Error, Result};
use crate::image_limits::{open_limited, MAX_LABEL_SIDE, MAX_PHOTO_SIDE};
use crate::labelmap::read_label_map;
use crate::labels::Palette;
use crate::nets::encoding::LabelChannels;

impl Layout {
    /// The published id mapping of a layout; generic folders use the palette: a palette with
    /// id 255 as its unlabeled class is COCO-Stuff-numbered, otherwise ids are channels.
    pub fn label_channels(self, palette: &Palette) -> LabelChannels {
        let coco = LabelChannels {
            channels: 183,
            dontcare_id: Some(255),
            shift_down: false,
        };
        match self {
            Layout::Cityscapes => LabelChannels::plain(35),
            Layout::CocoStuff => coco,
            Layout::Ade20k => LabelChannels {
                channels: 151,
                dontcare_id: Some(0),
                shift_down: true,
            },
            Layout::Ycor | Layout::Paired if palette.max_id() == 255 => coco,
            Layout::Ycor | Layout::Paired => {
                LabelChannels::plain(usize::from(palette.max_id()) + 1)
            }
        }
    }
}

/// The channel of a raw id of the label map at `origin`, or an error naming the file.
pub fn label_channel(labels: &LabelChannels, id: u16, origin: &Path) -> Result<u32> {
    let channel = labels.channel(id).ok_or_else(|| {
        Error::msg(format!(
            "{}: label id {id} has no channel (label_nc {}, don't care {:?})",
            origin.display(),
            labels.label_nc(),
            labels.dontcare_id
        ))
    })?;
    Ok(channel as u32)
}

/// One augmented example: channel ids and instance ids (row-major) and RGB pixels.
#[derive(Debug, Clone)]
pub struct Sample {
    pub width: u32,
    pub height: u32,
    pub channels: Vec<u32>,
    pub instance: Option<Vec<u32>>,
    pub photo: Vec<[u8; 3]>,
}

/// A batch as tensors: `label` (N, 1, H, W) u32 channel ids, `instance` (N, 1, H, W) u32,
/// `photo` (N, 3, H, W) f32 in [-1, 1].
#[derive(Debug, Clone)]
pub struct Batch {
    pub label: Tensor,
    pub instance: Option<Tensor>,
    pub photo: Tensor,
}

/// A dataset ready to train on: every photo has a label (and instance map when the layout
/// has them), the palette and the label encoding are known.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub layout: Layout,
    pub root: PathBuf,
    pub pairs: Vec<PairFiles>,
    pub palette: Palette,
    pub label_channels: LabelChannels,
}

/// A photo as RGB, refused before decoding when its header claims more than
/// [`MAX_PHOTO_SIDE`] pixels per side.
pub fn read_photo(path: &Path) -> Result<RgbImage> {
    Ok(open_limited(path, "photo", MAX_PHOTO_SIDE)?.to_rgb8())
}

/// Instance ids of an 8- or 16-bit grayscale PNG (Cityscapes instanceIds are 16-bit).
pub fn read_instance(path: &Path) -> Result<(u32, u32, Vec<u32>)> {
    let decoded = open_limited(path, "instance map", MAX_LABEL_SIDE)?;
    let gray = decoded.to_luma16();
    let ids = if decoded.color().bytes_per_pixel() == 1 {
        decoded
            .to_luma8()
            .pixels()
            .map(|p| u32::from(p.0[0]))
            .collect()
    } else {
        gray.pixels().map(|p| u32::from(p.0[0])).collect()
    };
    Ok((gray.width(), gray.height(), ids))
}

impl Dataset {
    /// Each pair's key and photo path, in the dataset's order.
    pub fn photos(&self) -> impl Iterator<Item = (&str, &Path)> + '_ {
        self.pairs
            .iter()
            .map(|pair| (pair.key.as_str(), pair.image.as_path()))
    }

    /// Scans `root` (split `train`), failing on an empty dataset or on any unpaired file.
    /// `palette` overrides the layout's built-in palette.
    pub fn open(root: &Path, palette: Option<Palette>) -> Result<Self> {
        let scan = layout::scan(root, "train")?;
        if let Some((path, why)) = scan.unpaired.first() {
            return Err(Error::msg(format!(
                "{}: {why} ({} unpaired file(s) in all; run `scenepaint dataset inspect {}`)",
                path.display(),
                scan.unpaired.len(),
                root.display()
            )));
        }
        let palette = match palette {
            Some(p) => p,
            None => Palette::builtin(scan.layout.palette_name())?,
        };
        let label_channels = scan.layout.label_channels(&palette);
        Ok(Self {
            layout: scan.layout,
            root: scan.root,
            pairs: scan.pairs,
            palette,
            label_channels,
        })
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Removes every `every`-th pair (in name order, the first included) and returns them:
    /// the validation pairs a run never trains on. `every` 0 or 1 would leave nothing to hold
    /// out or nothing to train on, so 0 holds out nothing and 1 is an error.
    pub fn hold_out(&mut self, every: u32) -> Result<Vec<PairFiles>> {
        if every == 0 {
            return Ok(Vec::new());
        }
        if every == 1 {
            return Err(Error::msg(
                "holdout_every 1 would hold out every pair: use 0 (none) or 2 and more",
            ));
        }
        let (held, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pairs)
            .into_iter()
            .enumerate()
            .partition(|(index, _)| index % every as usize == 0);
        self.pairs = kept.into_iter().map(|(_, pair)| pair).collect();
        Ok(held.into_iter().map(|(_, pair)| pair).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether every pair has an instance map.
    pub fn has_instances(&self) -> bool {
        !self.pairs.is_empty() && self.pairs.iter().all(|p| p.instance.is_some())
    }

    /// Reads example `index`, checks its sizes agree, augments it with `aug` drawn from `rng`.
    pub fn sample(&self, index: usize, aug: &Augment, rng: &mut impl Rng) -> Result<Sample> {
        let pair = &self.pairs[index % self.pairs.len()];
        let photo = read_photo(&pair.image)?;
        let labels = read_label_map(&pair.label, &self.palette)?;
        if (labels.width, labels.height) != photo.dimensions() {
            return Err(Error::msg(format!(
                "{}: {} ({})",
                pair.label.display(),
                inspect::size_mismatch(
                    "label map",
                    (labels.width, labels.height),
                    photo.dimensions()
                ),
                pair.image.display()
            )));
        }
        let channels = labels
            .ids
            .iter()
            .map(|&id| label_channel(&self.label_channels, id, &pair.label))
            .collect::<Result<Vec<u32>>>()?;
        let at = aug.draw(rng);
        let (w, h) = photo.dimensions();
        let instance = match &pair.instance {
            Some(path) => {
                let (iw, ih, ids) = read_instance(path)?;
                if (iw, ih) != (w, h) {
                    return Err(Error::msg(format!(
                        "{}: {}",
                        path.display(),
                        inspect::size_mismatch("instance map", (iw, ih), (w, h))
                    )));
                }
                Some(augment::apply_to_plane(&ids, w, h, aug, at))
            }
            None => None,
        };
        Ok(Sample {
            width: aug.crop_width,
            height: aug.crop_height,
            channels: augment::apply_to_plane(&channels, w, h, aug, at),
            instance,
            photo: augment::apply_to_photo(&photo, aug, at),
        })
    }

    /// [`Self::batch`], except that a pair that cannot be read (a photo damaged after the
    /// run started) is replaced by the next readable one and returned with why, so a long
    /// run reports it instead of ending. Deterministic: a resumed run skips the same way.
    /// [`Error::Interrupted`] once `stop` is raised.
    pub fn batch_skipping_bad(
        &self,
        indices: &[usize],
        aug: &Augment,
        rng: &mut impl Rng,
        device: &Device,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<(Batch, Vec<(PathBuf, String)>)> {
        let mut skipped = Vec::new();
        let mut samples = Vec::with_capacity(indices.len());
        for &first in indices {
            // A large batch of large photos takes seconds to decode: a stop request is
            // answered between two of them.
            crate::error::check_stop(stop)?;
            let mut index = first;
            loop {
                match self.sample(index, aug, rng) {
                    Ok(sample) => break samples.push(sample),
                    Err(e) => {
                        let pair = &self.pairs[index % self.pairs.len()];
                        skipped.push((pair.image.clone(), e.to_string()));
                        index += 1;
                        if index - first >= self.pairs.len() {
                            return Err(Error::msg(format!(
                                "{}: no pair can be read; the last error: {e}",
                                self.root.display()
                            )));
                        }
                    }
                }
            }
        }
        Ok((batch_from_samples(&samples, device)?, skipped))
    }

    /// Reads and stacks the examples `indices` into a batch on `device`.
    pub fn batch(
        &self,
        indices: &[usize],
        aug: &Augment,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Result<Batch> {
        let samples = indices
            .iter()
            .map(|&i| self.sample(i, aug, rng))
            .collect::<Result<Vec<_>>>()?;
        batch_from_samples(&samples, device)
    }
}

/// Stacks samples of one size into tensors.
pub fn batch_from_samples(samples: &[Sample], device: &Device) -> Result<Batch> {
    let first = samples
        .first()
        .ok_or_else(|| Error::msg("cannot build an empty batch"))?;
    let (n, h, w) = (samples.len(), first.height as usize, first.width as usize);
    let label: Vec<u32> = samples
        .iter()
        .flat_map(|s| s.channels.iter().copied())
        .collect();
    let mut photo = Vec::with_capacity(n * 3 * h * w);
    for sample in samples {
        for c in 0..3 {
            photo.extend(sample.photo.iter().map(|px| f32::from(px[c]) / 127.5 - 1.0));
        }
    }
    let instance = if samples.iter().all(|s| s.instance.is_some()) {
        let ids: Vec<u32> = samples
            .iter()
            .flat_map(|s| s.instance.iter().flatten().copied())
            .collect();
        Some(Tensor::from_vec(ids, (n, 1, h, w), device)?)
    } else {
        None
    };
    Ok(Batch {
        label: Tensor::from_vec(label, (n, 1, h, w), device)?,
        instance,
        photo: Tensor::from_vec(photo, (n, 3, h, w), device)?,
    })
}

/// A dataset of `keys` whose files are never read (ycor's palette), for tests of pair choices.
#[cfg(test)]
pub(crate) fn dataset_of(keys: &[&str]) -> Dataset {
    let pairs = keys
        .iter()
        .map(|key| PairFiles {
            key: key.to_string(),
            image: PathBuf::from(format!("images/{key}.jpg")),
            label: PathBuf::from(format!("labels/{key}.png")),
            instance: None,
        })
        .collect();
    let palette = Palette::builtin("ycor").unwrap_or_else(|e| panic!("{e}"));
    Dataset {
        layout: Layout::Paired,
        root: PathBuf::from("data"),
        pairs,
        label_channels: Layout::Paired.label_channels(&palette),
        palette,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Training's label channels and the painter's one-hot input agree on every id, for the
    /// published encodings (plain ids, COCO-Stuff's 255, ADE20K's 0 and shift).
    #[test]
    fn training_and_the_painter_map_every_id_to_the_same_channel() {
        use crate::nets::encoding::{encode, InputEncoding};
        let ycor = Palette::builtin("ycor").unwrap();
        for layout in [
            Layout::Ycor,
            Layout::CocoStuff,
            Layout::Ade20k,
            Layout::Cityscapes,
        ] {
            let training = layout.label_channels(&ycor);
            let painter = InputEncoding::OneHot {
                labels: training,
                instance_edges: false,
            };
            for id in 0..=300u16 {
                let by_training = label_channel(&training, id, Path::new("x.png")).ok();
                let input = encode(
                    &[id],
                    1,
                    1,
                    &painter,
                    |_| [0, 0, 0],
                    &candle_core::Device::Cpu,
                );
                let by_painter = input.ok().map(|t| {
                    let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    assert_eq!(values.iter().sum::<f32>(), 1.0, "one hot");
                    values.iter().position(|&v| v == 1.0).unwrap() as u32
                });
                assert_eq!(by_training, by_painter, "{layout:?} id {id}");
            }
        }
    }

    #[test]
    fn every_nth_pair_is_held_out_and_never_trained_on() {
        let mut dataset = dataset_of(&["a", "b", "c", "d", "e", "f", "g"]);
        let held: Vec<String> = dataset
            .hold_out(3)
            .unwrap()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(held, ["a", "d", "g"]);
        let kept: Vec<&str> = dataset.pairs.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(kept, ["b", "c", "e", "f"]);
        assert!(
            dataset_of(&["a"]).hold_out(1).is_err(),
            "1 would hold out all"
        );
        let mut all = dataset_of(&["a", "b"]);
        assert!(all.hold_out(0).unwrap().is_empty());
        assert_eq!(all.len(), 2);
    }
}
