//! What the painter remembers between runs (issue 17): the model and the model folders, the
//! palette (when no model sets it), brush size and tool, recent files, and the training panel's
//! fields, and how painting and preview share the window. eframe stores it (its `persistence` feature: one JSON string under [`STORAGE_KEY`]
//! in the platform's data folder); the window's size and the panels' widths are eframe's and
//! egui's own remembered state.
use super::training_panel::TrainingPanel;
use super::PainterApp;
use crate::paint::Tool;
use crate::train::config::NetFamily;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The key of the settings in eframe's storage.
pub const STORAGE_KEY: &str = "scenepaint-settings";
/// How many recent files the File menu lists.
pub const MAX_RECENT: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub model: Option<PathBuf>,
    pub model_folders: Vec<PathBuf>,
    pub palette: Option<String>,
    pub brush_px: Option<u32>,
    pub tool: Option<Tool>,
    /// Projects and label maps opened or saved, newest first.
    pub recent_files: Vec<PathBuf>,
    pub training: Option<TrainingFields>,
    pub preview: Option<PreviewLayout>,
}

/// How the work area is shared between painting and preview.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PreviewLayout {
    /// The canvas's share of the work area.
    pub split: f32,
    pub placement: super::preview::PreviewPlacement,
    pub swapped: bool,
}

/// The training panel's editable fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingFields {
    pub dataset: Option<PathBuf>,
    pub net: NetFamily,
    pub preset: String,
    pub iters: u64,
    pub batch_size: usize,
    /// The crop's width (stored as `crop_px` when crops were square).
    #[serde(alias = "crop_px")]
    pub crop_width: u32,
    /// None in settings stored when crops were square: the width.
    #[serde(default)]
    pub crop_height: Option<u32>,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub lambda_vgg: f64,
    pub eval_every: u64,
    pub keep_best_fid: bool,
    #[serde(default)]
    pub diff_augment: bool,
    #[serde(default)]
    pub average_weights: bool,
    /// None in settings stored before the panel had them: the preset's.
    #[serde(default)]
    pub lr: Option<f64>,
    #[serde(default)]
    pub decay_start: Option<u64>,
    #[serde(default)]
    pub start_from: String,
    pub palette: Option<String>,
    pub run_dir: PathBuf,
}

impl TrainingFields {
    pub fn of(panel: &TrainingPanel) -> Self {
        Self {
            dataset: panel.dataset.clone(),
            net: panel.net,
            preset: panel.preset.clone(),
            iters: panel.iters,
            batch_size: panel.batch_size,
            crop_width: panel.crop_width,
            crop_height: Some(panel.crop_height),
            sample_every: panel.sample_every,
            checkpoint_every: panel.checkpoint_every,
            lambda_vgg: panel.lambda_vgg,
            eval_every: panel.eval_every,
            keep_best_fid: panel.keep_best_fid,
            diff_augment: panel.diff_augment,
            average_weights: panel.average_weights,
            lr: Some(panel.lr),
            decay_start: Some(panel.decay_start),
            start_from: panel.start_from.clone(),
            palette: panel.palette.clone(),
            run_dir: panel.run_dir.clone(),
        }
    }

    pub fn apply(self, panel: &mut TrainingPanel) {
        if let Some(dir) = self.dataset.filter(|d| d.is_dir()) {
            panel.set_dataset(dir);
        }
        panel.net = self.net;
        panel.preset = self.preset;
        panel.iters = self.iters;
        panel.batch_size = self.batch_size;
        panel.crop_width = self.crop_width;
        panel.crop_height = self.crop_height.unwrap_or(self.crop_width);
        panel.sample_every = self.sample_every;
        panel.checkpoint_every = self.checkpoint_every;
        panel.lambda_vgg = self.lambda_vgg;
        panel.eval_every = self.eval_every;
        panel.keep_best_fid = self.keep_best_fid;
        panel.diff_augment = self.diff_augment;
        panel.average_weights = self.average_weights;
        if let Some(lr) = self.lr {
            panel.lr = lr;
        }
        if let Some(decay_start) = self.decay_start {
            panel.decay_start = decay_start;
        }
        panel.start_from = self.start_from;
        panel.palette = self.palette;
        panel.run_dir = self.run_dir;
    }
}

impl Settings {
    /// Parsed from eframe's stored string; anything unreadable gives the defaults (a settings
    /// file from another version must never stop the painter from opening).
    pub fn from_stored(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Puts `path` first in `recent`, once, keeping at most [`MAX_RECENT`].
pub fn remember(recent: &mut Vec<PathBuf>, path: &Path) {
    recent.retain(|p| p != path);
    recent.insert(0, path.to_path_buf());
    recent.truncate(MAX_RECENT);
}

impl PainterApp {
    /// What this session would remember now.
    pub fn settings(&self) -> Settings {
        Settings {
            model: self.models.selected.clone(),
            model_folders: self.models.folders.clone(),
            palette: Some(self.palette.name.clone()),
            brush_px: Some(self.brush_px),
            tool: Some(self.tool),
            recent_files: self.recent_files.clone(),
            training: Some(TrainingFields::of(&self.training)),
            preview: Some(PreviewLayout {
                split: self.preview.split,
                placement: self.preview.placement,
                swapped: self.preview.swapped,
            }),
        }
    }

    /// Restores remembered settings over a freshly made painter. A remembered model that still
    /// exists replaces the default one (and brings its palette); the palette is restored only
    /// when no model will set it.
    pub fn apply_settings(&mut self, settings: Settings) {
        let model = settings.model.filter(|m| m.is_dir());
        for folder in settings.model_folders {
            if folder.is_dir() && !self.models.folders.contains(&folder) {
                self.models.add_folder(folder);
            }
        }
        match model {
            Some(model) => self.pending_model = Some(model),
            None if self.pending_model.is_none() => {
                if let Some(name) = settings.palette.filter(|n| *n != self.palette.name) {
                    if let Ok(palette) = crate::labels::Palette::builtin(&name) {
                        self.switch_palette(Ok(palette));
                    }
                }
            }
            None => {}
        }
        if let Some(px) = settings.brush_px {
            self.brush_px = px.clamp(crate::paint::MIN_BRUSH_PX, crate::paint::MAX_BRUSH_PX);
        }
        if let Some(tool) = settings.tool {
            self.tool = tool;
        }
        self.recent_files = settings.recent_files;
        self.recent_files.retain(|p| p.exists());
        if let Some(training) = settings.training {
            training.apply(&mut self.training);
        }
        if let Some(layout) = settings.preview {
            let (low, high) = super::workspace::SPLIT_RANGE;
            self.preview.split = if layout.split.is_finite() {
                layout.split.clamp(low, high)
            } else {
                0.5
            };
            self.preview.placement = layout.placement;
            self.preview.swapped = layout.swapped;
        }
    }
}
