//! The painter's live-translation actions: showing the preview panel, loading a model (with the
//! palette switch and conversion of the painting), feeding the worker every frame, style from a
//! photo and exporting the generated image.
use super::files::FilePurpose;
use super::models::Loaded;
use super::preview::ExportSize;
use super::PainterApp;
use crate::live::{LiveTranslation, Style};
use crate::Result;
use image::RgbImage;
use std::path::Path;

impl PainterApp {
    /// The side panel's model section: picker, device, style and export.
    pub(super) fn model_section(&mut self, ui: &mut egui::Ui) {
        {
            let events = self
                .preview
                .show_controls(ui, self.live.as_mut(), &mut self.models);
            if let Some(dir) = events.load {
                self.load_model(dir, ui.ctx());
            }
            if events.add_folder {
                self.ask_for_path(FilePurpose::ModelFolder, "");
            }
            if events.import_checkpoint {
                self.start_checkpoint_import();
            }
            if events.style_from_photo {
                self.style_from_photo();
            }
            if events.export_image {
                self.export_generated(false);
            }
            if events.export_side_by_side {
                self.export_generated(true);
            }
        }
    }

    /// Starts loading the bundle in `dir` on a worker; `tick_live` installs it when ready.
    pub(super) fn load_model(&mut self, dir: std::path::PathBuf, ctx: &egui::Context) {
        if !dir.join(crate::nets::bundle::MANIFEST_FILE).exists() {
            self.message = Some(format!(
                "Error: no model bundle in {} (model.json missing)",
                dir.display()
            ));
            return;
        }
        let ctx = ctx.clone();
        if let Err(e) = self.models.start_load(dir, move || ctx.request_repaint()) {
            self.message = Some(format!("Error: {e}"));
        }
    }

    /// Every frame: installs a finished model load and feeds the worker the newest map.
    pub(super) fn tick_live(&mut self, ctx: &egui::Context) {
        if let Some(result) = self.models.poll() {
            match result.and_then(|loaded| self.install_model(loaded, ctx)) {
                Ok(text) => self.message = Some(text),
                Err(e) => self.message = Some(format!("Error: cannot load the model: {e}")),
            }
        }
        let Some(live) = &mut self.live else {
            return;
        };
        live.held_by_training = self.training.holds_preview(live.device);
        live.foreign_palette =
            (!live.info.palette.same_classes(&self.palette)).then(|| self.palette.name.clone());
        let now_s = ctx.input(|i| i.time);
        let due_s = live.tick(
            self.doc.map(),
            self.doc.generation(),
            self.doc.in_stroke(),
            now_s,
        );
        if let Some(due_s) = due_s {
            ctx.request_repaint_after(std::time::Duration::from_secs_f64(due_s));
        }
    }

    /// Makes `loaded` the live model: the worker takes its generator, the palette becomes the
    /// model's, and the painting is converted by class name.
    pub fn install_model(&mut self, loaded: Loaded, ctx: &egui::Context) -> Result<String> {
        let notify_ctx = ctx.clone();
        let mut live = LiveTranslation::start(loaded.info, loaded.translator, move || {
            notify_ctx.request_repaint()
        })?;
        if self.preview.seed_locked {
            if let Some(old) = &self.live {
                live.style = old.style.clone();
            }
        }
        live.device = loaded.device;
        // A bundle from elsewhere (an import, "Use in painter") stays in the list.
        if !self.models.bundles.contains(&loaded.dir) {
            if let Some(parent) = loaded.dir.parent() {
                self.models.add_folder(parent.to_path_buf());
            }
        }
        self.models.selected = Some(loaded.dir.clone());
        let mut text = format!("loaded model {}", live.info.name);
        if let Some(fallback) = loaded.fallback {
            text = format!("{fallback}; {text}");
        }
        if !live.info.palette.same_classes(&self.palette) {
            text.push_str("; ");
            text.push_str(&self.convert_to_palette(live.info.palette.clone()));
        }
        self.live = Some(live);
        Ok(text)
    }

    fn style_from_photo(&mut self) {
        self.ask_for_path(FilePurpose::StylePhoto, "");
    }

    /// The loaded VAE model copies the style of the photo at `path`.
    pub(super) fn style_from_photo_at(&mut self, path: &Path) {
        let Some(live) = &mut self.live else {
            return;
        };
        match crate::image_limits::open_limited(
            path,
            "style photo",
            crate::image_limits::MAX_PHOTO_SIDE,
        ) {
            Ok(photo) => {
                let style = Style {
                    photo: Some(std::sync::Arc::new(photo.to_rgb8())),
                    ..live.style.clone()
                };
                self.preview.choose_style(live, style);
                self.message = Some(format!("style from {}", path.display()));
            }
            Err(e) => self.message = Some(format!("Error: {}: {e}", path.display())),
        }
    }

    fn export_generated(&mut self, side_by_side: bool) {
        let (purpose, name) = if side_by_side {
            (FilePurpose::ExportSideBySide, "painting_and_photo.png")
        } else {
            (FilePurpose::ExportImage, "photo.png")
        };
        self.ask_for_path(purpose, name);
    }

    /// Writes the latest generated image (PNG or JPEG by extension), alone or right of the
    /// colour label map, at the chosen size.
    pub fn write_generated(&self, path: &Path, side_by_side: bool) -> Result<()> {
        let generated = self
            .live
            .as_ref()
            .and_then(|l| l.latest.as_ref())
            .ok_or_else(|| crate::Error::msg("no generated image to export yet"))?;
        let (w, h) = match self.preview.export_size {
            ExportSize::Canvas => (self.doc.width(), self.doc.height()),
            ExportSize::Model => generated.image.dimensions(),
        };
        let photo = if generated.image.dimensions() == (w, h) {
            generated.image.clone()
        } else {
            image::imageops::resize(
                &generated.image,
                w,
                h,
                image::imageops::FilterType::Triangle,
            )
        };
        let out = if side_by_side {
            let map = self.doc.map().resize_nearest(w, h);
            let labels = RgbImage::from_raw(w, h, map.to_rgb(&self.palette))
                .ok_or_else(|| crate::Error::msg("label map colour buffer has the wrong size"))?;
            let mut both = RgbImage::new(w * 2, h);
            image::imageops::replace(&mut both, &labels, 0, 0);
            image::imageops::replace(&mut both, &photo, i64::from(w), 0);
            both
        } else {
            photo
        };
        out.save(path).map_err(|e| crate::Error::Image {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The training window, its requests, and the question when closing during training.
    pub(super) fn show_training(&mut self, ui: &mut egui::Ui) {
        let ctx = &ui.ctx().clone();
        let events = self.training.show(ui);
        if events.pick_dataset {
            self.ask_for_path(FilePurpose::Dataset, "");
        }
        if events.pick_start_from {
            self.ask_for_path(FilePurpose::StartFrom, "");
        }
        if let Some((bundle, copy)) = events.use_in_painter {
            let notify_ctx = ctx.clone();
            let target = copy.clone();
            let copy_bundle = move || super::training_panel::copy_dir(&bundle, &target);
            if let Err(e) = self
                .models
                .start_load_after(copy, copy_bundle, move || notify_ctx.request_repaint())
            {
                self.message = Some(format!("Error: {e}"));
            }
        }
        if ctx.input(|i| i.viewport().close_requested()) && self.training.is_training() {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.training.confirm_close = true;
        }
        if self.training.confirm_close {
            self.confirm_close(ctx);
        }
    }

    fn confirm_close(&mut self, ctx: &egui::Context) {
        egui::Modal::new(egui::Id::unique("confirm-close-training")).show(ctx, |ui| {
            ui.label("Training is running. Stop it (a checkpoint is saved) and quit?");
            ui.horizontal(|ui| {
                if ui.button("Stop training and quit").clicked() {
                    // Dropping the run stops it and waits for its checkpoint.
                    self.training.run = None;
                    self.training.confirm_close = false;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                if ui.button("Keep training").clicked() {
                    self.training.confirm_close = false;
                }
            });
        });
    }
}
