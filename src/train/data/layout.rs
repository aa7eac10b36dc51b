//! Finding the photo/label/instance triples of a dataset folder. Recognised layouts:
//! - paired folders `images/` + `labels/` (+ `instances/`), matched by file stem, also one
//!   level down in `train/` (the ycor forest set: `train/images`, `train/labels`);
//! - SPADE / pix2pixHD folders `train_img/` + `train_label/` (+ `train_inst/`): COCO-Stuff, or
//!   Cityscapes when the names carry `_leftImg8bit` / `_gtFine_*`;
//! - Cityscapes as distributed: `leftImg8bit/train/CITY/*` + `gtFine/train/CITY/*`;
//! - ADE20K as distributed: `ADEChallengeData2016/images/training` + `annotations/training`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which published dataset layout a folder follows; decides the palette and label encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `images/` + `labels/` (+ `instances/`).
    Paired,
    /// The ycor forest set: `train/images` + `train/labels`, palette PNG ids 0-8.
    Ycor,
    /// SPADE's COCO-Stuff folders (`train_img`, `train_label`, `train_inst`), 255 = unlabeled.
    CocoStuff,
    /// Cityscapes labelIds/instanceIds, in pix2pixHD's folders or the original tree.
    Cityscapes,
    /// ADE20K (ADEChallengeData2016), 0 = unlabeled.
    Ade20k,
}

impl Layout {
    /// The built-in palette of the layout's classes.
    pub fn palette_name(self) -> &'static str {
        match self {
            Layout::Paired => "landscape",
            Layout::Ycor => "ycor",
            Layout::CocoStuff => "coco-stuff",
            Layout::Cityscapes => "cityscapes",
            Layout::Ade20k => "ade20k",
        }
    }
}

/// One training example's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairFiles {
    pub key: String,
    pub image: PathBuf,
    pub label: PathBuf,
    pub instance: Option<PathBuf>,
}

/// What was found in a folder: the pairs, plus the files that have no partner.
#[derive(Debug, Clone)]
pub struct Scan {
    pub layout: Layout,
    pub root: PathBuf,
    pub pairs: Vec<PairFiles>,
    /// Photos without a label, labels without a photo, instance maps without a pair.
    pub unpaired: Vec<(PathBuf, &'static str)>,
}

/// Name parts that differ between the files of one Cityscapes example.
const CITYSCAPES_SUFFIXES: [&str; 4] = [
    "_leftImg8bit",
    "_gtFine_labelIds",
    "_gtFine_instanceIds",
    "_gtFine_color",
];

/// The pairing key: the file stem's raw bytes without a Cityscapes suffix. Raw bytes, not
/// text: names that are not valid UTF-8 would otherwise all share one key and pair photos
/// with other images' labels.
fn pair_key(path: &Path) -> Vec<u8> {
    let stem = path.file_stem().unwrap_or_default().as_encoded_bytes();
    CITYSCAPES_SUFFIXES
        .iter()
        .find_map(|suffix| stem.strip_suffix(suffix.as_bytes()))
        .unwrap_or(stem)
        .to_vec()
}

/// A pairing key as text for `holdout.txt` and messages: UTF-8 as it is, any other byte as
/// `\xNN`, so keys that differ stay different.
fn key_text(key: &[u8]) -> String {
    let mut text = String::with_capacity(key.len());
    for chunk in key.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}

/// Image files under `dir` (recursively when `recursive`), sorted, keyed by pairing key.
fn list_images(
    dir: &Path,
    recursive: bool,
    keep: &dyn Fn(&Path) -> bool,
) -> Result<BTreeMap<Vec<u8>, PathBuf>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| Error::io(&current, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&current, e))?.path();
            if path.is_dir() {
                if recursive {
                    pending.push(path);
                }
            } else if crate::image_formats::is_readable_image(&path) && keep(&path) {
                if let Some(previous) = found.insert(pair_key(&path), path.clone()) {
                    return Err(Error::msg(format!(
                        "{} and {} have the same name stem: cannot tell which one to pair",
                        previous.display(),
                        path.display()
                    )));
                }
            }
        }
    }
    Ok(found)
}

fn name_contains(path: &Path, part: &str) -> bool {
    path.file_name().is_some_and(|n| {
        n.as_encoded_bytes()
            .windows(part.len())
            .any(|w| w == part.as_bytes())
    })
}

struct Folders {
    layout: Layout,
    images: PathBuf,
    labels: PathBuf,
    instances: Option<PathBuf>,
    recursive: bool,
    label_filter: Option<&'static str>,
    instance_filter: Option<&'static str>,
}

fn existing(path: PathBuf) -> Option<PathBuf> {
    path.is_dir().then_some(path)
}

fn detect_folders(root: &Path, split: &str) -> Option<Folders> {
    let paired = |base: &Path, layout| {
        Some(Folders {
            layout,
            images: existing(base.join("images"))?,
            labels: existing(base.join("labels"))?,
            instances: existing(base.join("instances")),
            recursive: false,
            label_filter: None,
            instance_filter: None,
        })
    };
    if let Some(found) = paired(root, Layout::Paired) {
        return Some(found);
    }
    if let Some(found) = paired(&root.join(split), Layout::Ycor) {
        return Some(found);
    }
    if let (Some(images), Some(labels)) = (
        existing(root.join(format!("{split}_img"))),
        existing(root.join(format!("{split}_label"))),
    ) {
        let cityscapes = std::fs::read_dir(&images)
            .ok()?
            .filter_map(|e| e.ok())
            .any(|e| name_contains(&e.path(), "_leftImg8bit"));
        let layout = if cityscapes {
            Layout::Cityscapes
        } else {
            Layout::CocoStuff
        };
        let instances = existing(root.join(format!("{split}_inst")));
        return Some(Folders {
            layout,
            images,
            labels,
            instances,
            recursive: false,
            label_filter: None,
            instance_filter: None,
        });
    }
    if let (Some(images), Some(gt)) = (
        existing(root.join("leftImg8bit").join(split)),
        existing(root.join("gtFine").join(split)),
    ) {
        return Some(Folders {
            layout: Layout::Cityscapes,
            images,
            labels: gt.clone(),
            instances: Some(gt),
            recursive: true,
            label_filter: Some("_gtFine_labelIds"),
            instance_filter: Some("_gtFine_instanceIds"),
        });
    }
    let ade = if root.join("ADEChallengeData2016").is_dir() {
        root.join("ADEChallengeData2016")
    } else {
        root.to_path_buf()
    };
    let ade_split = if split == "train" {
        "training"
    } else {
        "validation"
    };
    Some(Folders {
        layout: Layout::Ade20k,
        images: existing(ade.join("images").join(ade_split))?,
        labels: existing(ade.join("annotations").join(ade_split))?,
        instances: None,
        recursive: false,
        label_filter: None,
        instance_filter: None,
    })
}

/// Detects the layout of `root` and pairs its files by key. Unpaired files are reported in
/// `Scan::unpaired`; a folder with no recognised layout or no pair at all is an error.
pub fn scan(root: &Path, split: &str) -> Result<Scan> {
    if !root.is_dir() {
        return Err(Error::msg(format!(
            "{}: dataset folder not found",
            root.display()
        )));
    }
    let folders = detect_folders(root, split).ok_or_else(|| {
        Error::msg(format!(
            "{}: no dataset layout recognised; expected images/ + labels/, {split}/images + {split}/labels, \
             {split}_img + {split}_label, leftImg8bit + gtFine, or ADEChallengeData2016",
            root.display()
        ))
    })?;
    let filter =
        |part: Option<&'static str>| move |p: &Path| part.is_none_or(|s| name_contains(p, s));
    let images = list_images(&folders.images, folders.recursive, &|_| true)?;
    let mut labels = list_images(
        &folders.labels,
        folders.recursive,
        &filter(folders.label_filter),
    )?;
    let mut instances = match &folders.instances {
        Some(dir) => list_images(dir, folders.recursive, &filter(folders.instance_filter))?,
        None => BTreeMap::new(),
    };
    let mut pairs = Vec::new();
    let mut unpaired = Vec::new();
    for (key, image) in images {
        match labels.remove(&key) {
            Some(label) => {
                let instance = instances.remove(&key);
                if folders.instances.is_some() && instance.is_none() {
                    unpaired.push((image.clone(), "photo without an instance map"));
                }
                pairs.push(PairFiles {
                    key: key_text(&key),
                    image,
                    label,
                    instance,
                });
            }
            None => unpaired.push((image, "photo without a label map")),
        }
    }
    unpaired.extend(
        labels
            .into_values()
            .map(|p| (p, "label map without a photo")),
    );
    unpaired.extend(
        instances
            .into_values()
            .map(|p| (p, "instance map without a photo")),
    );
    if pairs.is_empty() && unpaired.is_empty() {
        return Err(Error::msg(format!(
            "{}: the dataset is empty (no images in {} or {})",
            root.display(),
            folders.images.display(),
            folders.labels.display()
        )));
    }
    Ok(Scan {
        layout: folders.layout,
        root: root.to_path_buf(),
        pairs,
        unpaired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cityscapes_names_pair_by_their_common_prefix() {
        assert_eq!(
            pair_key(Path::new("a/aachen_000000_000019_leftImg8bit.png")),
            b"aachen_000000_000019"
        );
        assert_eq!(
            pair_key(Path::new("aachen_000000_000019_gtFine_instanceIds.png")),
            b"aachen_000000_000019"
        );
        assert_eq!(pair_key(Path::new("iid000004.jpg")), b"iid000004");
    }

    #[test]
    fn keys_that_are_not_utf8_stay_distinct_as_text() {
        assert_eq!(key_text(b"caf\xE9"), "caf\\xE9");
        assert_ne!(key_text(b"\xFF"), key_text(b"\xFE"));
        assert_eq!(key_text("forêt".as_bytes()), "forêt");
    }
}
