//! The training panel: dataset folder (with what `dataset inspect` finds), network, preset and
//! main options, start / pause / resume / stop, live progress, loss curves (`loss_plot.rs`),
//! the latest sample grid, checkpoints, and "Use in painter". Training runs in a [`TrainingRun`].
//! The device picker offers the GPUs compiled in; training on the GPU the live preview uses
//! pauses the preview while the run lasts (a visible setting), and a run folder that holds a
//! checkpoint can be continued.
pub use super::loss_plot::LOSS_PLOT_LABEL;
use super::models::DeviceChoice;
use super::training_run::TrainingRun;
use crate::train::config::{self, NetKind, TrainConfig};
use crate::train::trainer::TrainRequest;
use std::path::PathBuf;

/// What the panel asks the painter for.
#[derive(Default)]
pub struct TrainingEvents {
    pub pick_dataset: bool,
    /// (the run's bundle, a new folder): copy the bundle there (never sharing the trainer's
    /// files) and load the copy as the live model.
    pub use_in_painter: Option<(PathBuf, PathBuf)>,
}

/// Held-out pairs for FID when the preset holds out none: every 10th, as the shipped models.
const EVAL_HOLDOUT_EVERY: u32 = 10;

/// The panel's state.
pub struct TrainingPanel {
    pub open: bool,
    pub dataset: Option<PathBuf>,
    pub inspect_text: String,
    pub net: NetKind,
    pub preset: String,
    pub iters: u64,
    pub batch_size: usize,
    pub crop_px: u32,
    pub sample_every: u64,
    /// Iterations between checkpoints; each also refreshes the bundle "Use in painter" copies.
    pub checkpoint_every: u64,
    /// Weight of the VGG perceptual loss (0 = off: no VGG weights needed).
    pub lambda_vgg: f64,
    /// Iterations between FID evaluations on held-out pairs (0 = off).
    pub eval_every: u64,
    /// Keep the bundle of the best FID in the run's `best/` folder.
    pub keep_best_fid: bool,
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
    sample_texture: Option<(u64, egui::TextureHandle)>,
    uses: u32,
    inspect_job: Option<std::sync::mpsc::Receiver<String>>,
}

impl Default for TrainingPanel {
    fn default() -> Self {
        Self {
            open: false,
            dataset: None,
            inspect_text: String::new(),
            net: NetKind::Spade,
            preset: "spade-tiny".into(),
            iters: 1000,
            batch_size: 1,
            crop_px: 64,
            sample_every: 10,
            checkpoint_every: 100,
            lambda_vgg: 0.0,
            eval_every: 0,
            keep_best_fid: false,
            palette: None,
            run_dir: PathBuf::from("runs/gui"),
            resume: false,
            device: DeviceChoice::Cpu,
            pause_preview_on_shared_gpu: true,
            run: None,
            message: None,
            confirm_close: false,
            sample_texture: None,
            uses: 0,
            inspect_job: None,
        }
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
        let (sender, receiver) = std::sync::mpsc::channel();
        let folder = dir.clone();
        let spawned = std::thread::Builder::new()
            .name("scenepaint-inspect".into())
            .spawn(move || {
                let _ = sender.send(inspect_text(&folder, palette));
            });
        match spawned {
            Ok(_) => {
                self.inspect_text = format!("inspecting {}…", dir.display());
                self.inspect_job = Some(receiver);
            }
            Err(e) => self.inspect_text = format!("Error: cannot start the inspection: {e}"),
        }
        self.dataset = Some(dir);
    }

    /// Takes the finished `dataset inspect` report, if any. True while one is still running.
    pub fn poll_inspect(&mut self) -> bool {
        let Some(job) = &self.inspect_job else {
            return false;
        };
        match job.try_recv() {
            Ok(text) => {
                self.inspect_text = text;
                self.inspect_job = None;
                false
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => true,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.inspect_text = "Error: the dataset inspection stopped unexpectedly".into();
                self.inspect_job = None;
                false
            }
        }
    }

    /// The config the options describe: the preset with the edited fields.
    pub fn config(&self) -> crate::Result<TrainConfig> {
        let mut config = config::preset(&self.preset)?;
        config.iters = self.iters;
        config.batch_size = self.batch_size;
        config.crop_width = self.crop_px;
        config.crop_height = self.crop_px;
        config.load_width = config.load_width.max(self.crop_px);
        config.load_height = config.load_height.max(self.crop_px);
        if config.net != self.net {
            return Err(crate::Error::msg(format!(
                "preset {} trains {:?}, not the chosen network {:?}",
                self.preset, config.net, self.net
            )));
        }
        config.sample_every = self.sample_every.max(1);
        config.checkpoint_every = self.checkpoint_every.max(1);
        config.log_every = 1;
        config.lambda_vgg = self.lambda_vgg;
        config.eval_every = self.eval_every;
        config.keep_best_fid = self.keep_best_fid && self.eval_every > 0;
        if self.eval_every > 0 && config.holdout_every == 0 {
            config.holdout_every = EVAL_HOLDOUT_EVERY;
        }
        Ok(config)
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

    pub fn show(&mut self, ctx: &egui::Context) -> TrainingEvents {
        let mut events = TrainingEvents::default();
        if self.poll_inspect() {
            // Look again shortly: the inspection thread has no context to wake the window.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        if let Some(run) = &mut self.run {
            run.poll();
        }
        let mut open = self.open;
        egui::Window::new("Training")
            .open(&mut open)
            .default_size([640.0, 560.0])
            .show(ctx, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.contents(ui, &mut events));
            });
        self.open = open;
        events
    }

    fn contents(&mut self, ui: &mut egui::Ui, events: &mut TrainingEvents) {
        let running = self.is_training();
        ui.horizontal(|ui| {
            let name = self
                .dataset
                .as_ref()
                .map_or_else(|| "(none)".to_string(), |d| d.display().to_string());
            ui.label(format!("Dataset: {name}"));
            if ui
                .add_enabled(!running, egui::Button::new("Choose dataset…"))
                .clicked()
            {
                events.pick_dataset = true;
            }
        });
        if !self.inspect_text.is_empty() {
            egui::CollapsingHeader::new("What dataset inspect finds")
                .default_open(false)
                .show(ui, |ui| ui.monospace(&self.inspect_text));
        }
        ui.add_enabled_ui(!running, |ui| self.options(ui));
        ui.horizontal(|ui| {
            self.controls(ui);
            self.use_in_painter(ui, events);
        });
        if let Some(message) = &self.message {
            ui.label(message.as_str());
        }
        self.progress(ui);
    }

    fn options(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::from_label("Network")
                .selected_text(format!("{:?}", self.net))
                .show_ui(ui, |ui| {
                    for net in [NetKind::Spade, NetKind::Pix2pixhd, NetKind::Pix2pix] {
                        if ui
                            .selectable_value(&mut self.net, net, format!("{net:?}"))
                            .clicked()
                        {
                            self.preset = config::default_preset(net).to_string();
                        }
                    }
                });
            egui::ComboBox::from_label("Preset")
                .selected_text(self.preset.clone())
                .show_ui(ui, |ui| {
                    for preset in config::presets_of(self.net) {
                        ui.selectable_value(&mut self.preset, preset.to_string(), preset);
                    }
                });
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Iterations");
            ui.add(egui::DragValue::new(&mut self.iters).range(1..=10_000_000));
            ui.label("Batch");
            ui.add(egui::DragValue::new(&mut self.batch_size).range(1..=64));
            ui.label("Crop px");
            ui.add(egui::DragValue::new(&mut self.crop_px).range(16..=1024));
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Sample every");
            ui.add(egui::DragValue::new(&mut self.sample_every).range(1..=100_000));
            ui.label("Checkpoint every");
            ui.add(egui::DragValue::new(&mut self.checkpoint_every).range(1..=100_000));
            ui.label("VGG loss weight");
            ui.add(egui::DragValue::new(&mut self.lambda_vgg).range(0.0..=100.0));
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("FID every")
                .on_hover_text("FID and KID on held-out pairs (0 = off); the preset's held-out pairs, else every 10th");
            ui.add(egui::DragValue::new(&mut self.eval_every).range(0..=1_000_000));
            ui.add_enabled(
                self.eval_every > 0,
                egui::Checkbox::new(&mut self.keep_best_fid, "keep best"),
            );
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Output folder");
            let mut text = self.run_dir.display().to_string();
            if ui.text_edit_singleline(&mut text).changed() {
                self.run_dir = PathBuf::from(text);
            }
            let can_resume = self.has_checkpoint();
            ui.add_enabled(
                can_resume,
                egui::Checkbox::new(&mut self.resume, "Continue from its checkpoint"),
            )
            .on_disabled_hover_text("no checkpoint in this folder yet");
        });
        self.device_options(ui);
    }

    fn device_options(&mut self, ui: &mut egui::Ui) {
        let devices = DeviceChoice::available();
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::from_label("Training device")
                .selected_text(self.device.label())
                .show_ui(ui, |ui| {
                    for device in devices {
                        ui.selectable_value(&mut self.device, device, device.label());
                    }
                });
            if self.device != DeviceChoice::Cpu {
                ui.checkbox(
                    &mut self.pause_preview_on_shared_gpu,
                    "Pause the live preview while training on the preview's GPU",
                );
            }
        });
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let running = self.is_training();
            if ui
                .add_enabled(!running, egui::Button::new("Start"))
                .clicked()
            {
                let ctx = ui.ctx().clone();
                self.message = self.start(&ctx).err().map(|e| format!("Error: {e}"));
            }
            if let Some(run) = self.run.as_ref().filter(|r| r.is_running()) {
                if run.is_paused() {
                    if ui.button("Resume").clicked() {
                        run.set_paused(false);
                    }
                } else if ui.button("Pause").clicked() {
                    run.set_paused(true);
                }
                if ui.button("Stop").clicked() {
                    run.stop();
                    run.set_paused(false);
                }
            }
        });
    }

    fn progress(&mut self, ui: &mut egui::Ui) {
        let Some(run) = &self.run else {
            return;
        };
        if let Some(p) = &run.last {
            ui.label(format!(
                "iteration {}/{}  epoch {}  {:.2} it/s  ETA {}",
                p.iteration,
                p.total,
                p.epoch,
                p.iters_per_s,
                crate::train::trainer::human_duration(p.eta_s)
            ));
        }
        match &run.outcome {
            Some(Ok(outcome)) => ui.label(format!("{outcome:?}")),
            Some(Err(e)) => ui.colored_label(ui.visuals().error_fg_color, format!("Error: {e}")),
            None if run.is_paused() => ui.label("paused"),
            None => ui.label("training…"),
        };
        if let Some(last) = run.skipped.last() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} unreadable pair(s) skipped so far; the latest: {last}",
                    run.skipped.len()
                ),
            );
        }
        super::loss_plot::show(ui, &run.losses);
        super::loss_plot::show_fid(ui, &run.evaluations);
        self.sample(ui);
        let Some(run) = &self.run else {
            return;
        };
        ui.label(format!("Checkpoints written: {}", run.checkpoints.len()));
        for (iteration, path) in run.checkpoints.iter().rev().take(3) {
            ui.small(format!("iteration {iteration}: {}", path.display()));
        }
    }

    /// "Use in painter": a copy of the run's newest bundle becomes the live model.
    fn use_in_painter(&mut self, ui: &mut egui::Ui, events: &mut TrainingEvents) {
        let bundle = self
            .run
            .as_ref()
            .and_then(|run| run.bundle.clone())
            .filter(|b| b.join("model.json").is_file());
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

    fn sample(&mut self, ui: &mut egui::Ui) {
        let Some((counter, path)) = self.run.as_ref().and_then(|r| r.sample.clone()) else {
            return;
        };
        if self
            .sample_texture
            .as_ref()
            .is_none_or(|(n, _)| *n != counter)
        {
            let limit = crate::image_limits::MAX_PHOTO_SIDE;
            if let Ok(image) = crate::image_limits::open_limited(&path, "sample", limit) {
                let rgb = image.to_rgb8();
                let size = [rgb.width() as usize, rgb.height() as usize];
                let colour = egui::ColorImage::from_rgb(size, rgb.as_raw());
                let texture = ui
                    .ctx()
                    .load_texture("train-sample", colour, Default::default());
                self.sample_texture = Some((counter, texture));
            }
        }
        if let Some((_, texture)) = &self.sample_texture {
            ui.label("Latest sample (label | generated | photo)");
            let size = texture.size_vec2();
            let scale = (ui.available_width() / size.x).min(2.0);
            ui.add(egui::Image::new((texture.id(), size * scale)).alt_text("Latest sample"));
        }
    }
}

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
