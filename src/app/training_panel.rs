//! The training panel, docked at the window's left: dataset folder (with what `dataset inspect`
//! finds), network, preset and main options (`training_form`), start / pause / resume / stop,
//! progress as sentences, loss curves, the latest sample grid and checkpoints
//! (`training_progress`), and "Use in painter". Training runs in a [`TrainingRun`].
//! The device picker offers the GPUs compiled in; training on the GPU the live preview uses
//! pauses the preview while the run lasts (a visible setting), and a run folder that holds a
//! checkpoint can be continued.
use super::job::Job;
pub use super::loss_plot::LOSS_PLOT_LABEL;
use super::training_run::TrainingRun;
use crate::device::DeviceChoice;
use crate::train::config::{self, NetFamily, TrainConfig};
use crate::train::trainer::TrainRequest;
use std::path::PathBuf;

/// What the panel asks the painter for.
#[derive(Default)]
pub struct TrainingEvents {
    pub pick_dataset: bool,
    /// Choose the model bundle a run starts from.
    pub pick_start_from: bool,
    /// (the run's bundle, a new folder): copy the bundle there (never sharing the trainer's
    /// files) and load the copy as the live model.
    pub use_in_painter: Option<(PathBuf, PathBuf)>,
}

/// The docked panel starts this wide, in points.
const PANEL_WIDTH: f32 = 420.0;

/// Held-out pairs for FID when the preset holds out none: every 10th, as the shipped models.
const EVAL_HOLDOUT_EVERY: u32 = 10;

/// The panel's state.
pub struct TrainingPanel {
    pub open: bool,
    pub dataset: Option<PathBuf>,
    /// The dataset field as typed (it becomes `dataset` on Enter or leaving the field).
    pub dataset_text: String,
    pub inspect_text: String,
    pub net: NetFamily,
    pub preset: String,
    pub iters: u64,
    pub batch_size: usize,
    /// The training crop, pixels: non-square for data such as ycor's (1.88:1).
    pub crop_width: u32,
    pub crop_height: u32,
    pub sample_every: u64,
    /// Iterations between checkpoints; each also refreshes the bundle "Use in painter" copies.
    pub checkpoint_every: u64,
    /// Weight of the VGG perceptual loss (0 = off: no VGG weights needed).
    pub lambda_vgg: f64,
    /// Iterations between FID evaluations on held-out pairs (0 = off).
    pub eval_every: u64,
    /// Keep the bundle of the best FID in the run's `best/` folder.
    pub keep_best_fid: bool,
    /// DiffAugment's full policy before the discriminators (SPADE only).
    pub diff_augment: bool,
    /// Ship a running average of the generator's weights (`train::average::USUAL_DECAY`).
    pub average_weights: bool,
    /// Adam's learning rate (the generator's; with TTUR the discriminator's is 4x).
    pub lr: f64,
    /// Iteration from which the learning rates decay linearly to 0.
    pub decay_start: u64,
    /// A model bundle whose weights start the run (`load_pretrain`); empty: fresh weights.
    pub start_from: String,
    /// Palette of the dataset's labels; `None` = what the layout implies.
    pub palette: Option<String>,
    pub run_dir: PathBuf,
    /// Continue the run in `run_dir` from its checkpoint instead of starting afresh.
    pub resume: bool,
    pub device: DeviceChoice,
    /// While training on the GPU the live preview uses, the preview waits.
    pub pause_preview_on_shared_gpu: bool,
    pub run: Option<TrainingRun>,
    pub message: Option<String>,
    /// The window was asked to close while training: ask first.
    pub confirm_close: bool,
    pub(super) sample_texture: Option<(u64, egui::TextureHandle)>,
    uses: u32,
    inspect_job: Option<Job<String>>,
}

/// The size photos load at before a random crop of `crop` pixels: the preset's margin
/// (e.g. 286 for 256) scaled to the crop, so a crop of another size or shape keeps the
/// preset's share of the image rather than cropping a small window out of its load size.
pub fn load_for_crop(preset_load: u32, preset_crop: u32, crop: u32) -> u32 {
    let scaled = u64::from(crop) * u64::from(preset_load) / u64::from(preset_crop.max(1));
    u32::try_from(scaled).unwrap_or(u32::MAX).max(crop)
}

/// The run folder the panel suggests: in the user's data folder, never the working directory
/// (which may be a source checkout, or not writable).
pub fn default_run_dir() -> PathBuf {
    dirs::data_dir()
        .map(|data| data.join("scenepaint").join("runs"))
        .unwrap_or_else(|| PathBuf::from("scenepaint-runs"))
        .join("gui")
}

impl Default for TrainingPanel {
    fn default() -> Self {
        let mut panel = Self {
            open: false,
            dataset: None,
            dataset_text: String::new(),
            inspect_text: String::new(),
            net: NetFamily::Spade,
            preset: "spade-tiny".into(),
            iters: 1000,
            batch_size: 1,
            crop_width: 64,
            crop_height: 64,
            sample_every: 10,
            checkpoint_every: 100,
            lambda_vgg: 0.0,
            eval_every: 0,
            keep_best_fid: false,
            diff_augment: false,
            average_weights: false,
            lr: 2e-4,
            decay_start: 500,
            start_from: String::new(),
            palette: None,
            run_dir: default_run_dir(),
            resume: false,
            device: DeviceChoice::Cpu,
            pause_preview_on_shared_gpu: true,
            run: None,
            message: None,
            confirm_close: false,
            sample_texture: None,
            uses: 0,
            inspect_job: None,
        };
        panel.apply_preset();
        panel
    }
}

impl TrainingPanel {
    /// Sets the dataset folder and runs `dataset inspect` on it on a thread of its own (it
    /// decodes every file); [`Self::poll_inspect`] takes the report when it is ready.
    pub fn set_dataset(&mut self, dir: PathBuf) {
        let palette = self
            .palette
            .as_deref()
            .and_then(|name| crate::labels::Palette::builtin(name).ok());
        let folder = dir.clone();
        // No context to wake the panel: `show` looks again while the job runs.
        match Job::spawn("inspect", move || Ok(inspect_text(&folder, palette)), || {}) {
            Ok(job) => {
                self.inspect_text = format!("inspecting {}…", dir.display());
                self.inspect_job = Some(job);
            }
            Err(e) => self.inspect_text = format!("Error: {e}"),
        }
        self.dataset_text = dir.display().to_string();
        self.dataset = Some(dir);
    }

    /// Takes the finished `dataset inspect` report, if any. True while one is still running.
    pub fn poll_inspect(&mut self) -> bool {
        let Some(job) = &mut self.inspect_job else {
            return false;
        };
        let Some(result) = job.poll() else {
            return true;
        };
        self.inspect_text = result.unwrap_or_else(|e| format!("Error: {e}"));
        self.inspect_job = None;
        false
    }

    /// The config the options describe: the preset with the edited fields, through
    /// `train::config::resolve` as the CLI's flags go (a continued run keeps its saved
    /// settings but the total).
    pub fn config(&self) -> crate::Result<TrainConfig> {
        let base = config::preset(&self.preset)?;
        let mut fields = serde_json::json!({
            "iters": self.iters,
            "batch_size": self.batch_size,
            "crop_width": self.crop_width,
            "crop_height": self.crop_height,
            "load_width": load_for_crop(base.load_width, base.crop_width, self.crop_width),
            "load_height": load_for_crop(base.load_height, base.crop_height, self.crop_height),
            "sample_every": self.sample_every.max(1),
            "checkpoint_every": self.checkpoint_every.max(1),
            "log_every": 1,
            "lambda_vgg": self.lambda_vgg,
            "eval_every": self.eval_every,
            "keep_best_fid": self.keep_best_fid && self.eval_every > 0,
            "diff_augment": (self.diff_augment && self.net == NetFamily::Spade)
                .then_some(crate::train::diff_augment::ALL_POLICIES),
            "average_decay": self.average_weights.then_some(crate::train::average::USUAL_DECAY),
            "lr": self.lr,
            "decay_start": self.decay_start.min(self.iters),
        });
        let start_from = self.start_from.trim();
        if !start_from.is_empty() {
            fields["load_pretrain"] = start_from.into();
        }
        if self.eval_every > 0 && base.holdout_every == 0 {
            fields["holdout_every"] = EVAL_HOLDOUT_EVERY.into();
        }
        let overrides = match fields {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let resolved = config::resolve(&config::ConfigChoice {
            net: self.net,
            preset: Some(&self.preset),
            overrides,
            overrides_from: "the training panel's fields",
            iters: Some(self.iters),
            run_dir: &self.run_dir,
            resume: self.resume && self.has_checkpoint(),
        })?;
        Ok(resolved.config)
    }

    /// Starts a run with the panel's options.
    pub fn start(&mut self, ctx: &egui::Context) -> crate::Result<()> {
        let data = self
            .dataset
            .clone()
            .ok_or_else(|| crate::Error::msg("choose a dataset folder first"))?;
        let (device, fallback) = match self.device.device() {
            Ok(device) => (device, None),
            Err(e) => (
                candle_core::Device::Cpu,
                Some(format!(
                    "{} failed ({e}); training on the CPU",
                    self.device.label()
                )),
            ),
        };
        let resume = self.resume && self.has_checkpoint();
        let request = TrainRequest {
            data,
            run_dir: self.run_dir.clone(),
            config: self.config()?,
            resume,
            device,
            palette: self
                .palette
                .as_deref()
                .map(crate::labels::Palette::builtin)
                .transpose()?,
            command: None,
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        let ctx = ctx.clone();
        self.run = Some(TrainingRun::start(request, threads, move || {
            ctx.request_repaint()
        })?);
        self.sample_texture = None;
        self.message = fallback;
        Ok(())
    }

    /// The output folder holds a checkpoint a run can continue from.
    pub fn has_checkpoint(&self) -> bool {
        self.run_dir
            .join(crate::train::trainer::CHECKPOINT_FILE)
            .is_file()
    }

    /// True while a run trains on `preview_device` (a GPU) and the setting asks the live
    /// preview to wait for it.
    pub fn holds_preview(&self, preview_device: DeviceChoice) -> bool {
        self.is_training()
            && shares_gpu(self.device, preview_device)
            && self.pause_preview_on_shared_gpu
    }

    pub fn is_training(&self) -> bool {
        self.run.as_ref().is_some_and(TrainingRun::is_running)
    }

    /// The panel, docked at the left of the window while open; `ui` is the window's.
    pub fn show(&mut self, ui: &mut egui::Ui) -> TrainingEvents {
        let ctx = ui.ctx().clone();
        let mut events = TrainingEvents::default();
        if self.poll_inspect() {
            // Look again shortly: the inspection thread has no context to wake the window.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        if let Some(run) = &mut self.run {
            run.poll();
        }
        if !self.open {
            return events;
        }
        egui::Panel::left("training")
            .default_size(PANEL_WIDTH)
            .resizable(true)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.heading("Training");
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui
                            .button("Close")
                            .on_hover_text("Training goes on")
                            .clicked()
                        {
                            self.open = false;
                        }
                    });
                });
                egui::ScrollArea::vertical().show(ui, |ui| self.contents(ui, &mut events));
            });
        events
    }

    fn contents(&mut self, ui: &mut egui::Ui, events: &mut TrainingEvents) {
        let running = self.is_training();
        self.dataset_row(ui, events);
        ui.add_enabled_ui(!running, |ui| self.options(ui, events));
        let stopping = ui
            .horizontal(|ui| {
                let stopping = self.controls(ui);
                self.use_in_painter(ui, events);
                stopping
            })
            .inner;
        if stopping {
            let saved = self.run.as_ref().is_some_and(|r| r.stop_checkpoint_saved());
            ui.horizontal_wrapped(|ui| {
                ui.spinner();
                ui.label(if saved {
                    STOPPING_MODEL_LABEL
                } else {
                    STOPPING_LABEL
                });
            });
        }
        if let Some(message) = &self.message {
            ui.label(message.as_str());
        }
        self.progress(ui);
    }

    /// Start, Pause / Resume, Stop; true while a stop request waits for the run to save.
    fn controls(&mut self, ui: &mut egui::Ui) -> bool {
        let running = self.is_training();
        if ui
            .add_enabled(!running, egui::Button::new("Start"))
            .clicked()
        {
            let ctx = ui.ctx().clone();
            self.message = self.start(&ctx).err().map(|e| format!("Error: {e}"));
        }
        let Some(run) = self.run.as_ref().filter(|r| r.is_running()) else {
            return false;
        };
        if run.stop_requested() {
            return true;
        }
        if run.is_paused() {
            if ui.button("Resume").clicked() {
                run.set_paused(false);
            }
        } else if ui.button("Pause").clicked() {
            run.set_paused(true);
        }
        let stop = ui.button("Stop").clicked();
        if stop {
            run.stop();
            run.set_paused(false);
        }
        // Said from the frame of the click on: saving can take seconds (a weight average is
        // measured before its bundle is written).
        stop
    }

    /// "Use in painter": a copy of the run's newest bundle becomes the live model.
    fn use_in_painter(&mut self, ui: &mut egui::Ui, events: &mut TrainingEvents) {
        let bundle = self
            .run
            .as_ref()
            .and_then(|run| run.bundle.clone())
            .filter(|b| b.join(crate::nets::bundle::MANIFEST_FILE).is_file());
        let held = self.run.as_ref().and_then(|run| run.bundle_iteration);
        let hover = held.map_or_else(
            || "the model of this run".to_string(),
            |iteration| format!("the model as of iteration {iteration} (its latest checkpoint)"),
        );
        let button = ui
            .add_enabled(bundle.is_some(), egui::Button::new("Use in painter"))
            .on_hover_text(hover)
            .on_disabled_hover_text("no checkpoint written yet");
        if let (true, Some(bundle)) = (button.clicked(), bundle) {
            self.uses += 1;
            let copy = self.run_dir.join(format!("painter_{}", self.uses));
            events.use_in_painter = Some((bundle, copy));
        }
    }
}

/// The panel's text between a stop request and the run's end: the iteration in progress
/// finishes, then the checkpoint and the bundle are written.
pub const STOPPING_LABEL: &str = "Stopping: saving a checkpoint and the model…";
/// The same once the checkpoint is on disk: nothing trained is lost if the window closes now;
/// the bundle can take seconds (a weight average is measured before it is written).
pub const STOPPING_MODEL_LABEL: &str = "Stopping: checkpoint saved; writing the model…";

/// What `dataset inspect` reports for `dir`, as text for the panel.
fn inspect_text(dir: &std::path::Path, palette: Option<crate::labels::Palette>) -> String {
    match crate::train::data::inspect::inspect(dir, palette) {
        Ok(report) => match crate::labels::Palette::builtin(&report.palette) {
            Ok(palette) => report.to_text(&palette),
            Err(e) => format!("Error: {e}"),
        },
        Err(e) => format!("Error: {e}"),
    }
}

/// Training and the preview on the same GPU (the CPU has its own thread pools).
pub fn shares_gpu(training: DeviceChoice, preview: DeviceChoice) -> bool {
    training != DeviceChoice::Cpu && training == preview
}

/// Copies the files of a bundle folder (the painter never shares the trainer's weights).
pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> crate::Result<()> {
    std::fs::create_dir_all(to).map_err(|e| crate::Error::io(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| crate::Error::io(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| crate::Error::io(from, e))?;
        if entry.path().is_file() {
            let target = to.join(entry.file_name());
            std::fs::copy(entry.path(), &target).map_err(|e| crate::Error::io(&target, e))?;
        }
    }
    Ok(())
}
