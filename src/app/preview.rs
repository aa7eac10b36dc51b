//! The preview area beside the canvas: model picker and device, the live generated image (busy
//! indicator, last latency, pause, swap sides, full size), style controls for VAE models and
//! export. It only displays and reports what the user asked for; the painter acts on it.
use super::live::{LiveTranslation, Style};
use super::models::{bundle_name, ModelPicker};
use egui::{Align, Layout, RichText};
use std::path::PathBuf;

/// Accessible name of the generated image.
pub const PREVIEW_IMAGE_LABEL: &str = "Generated image";
/// How many recent styles the strip keeps.
pub const RECENT_STYLES: usize = 8;

/// What the user asked the preview for this frame.
#[derive(Default)]
pub struct PreviewEvents {
    pub load: Option<PathBuf>,
    pub add_folder: bool,
    pub import_checkpoint: bool,
    pub style_from_photo: bool,
    pub export_image: bool,
    pub export_side_by_side: bool,
}

/// Export resolution of the generated image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportSize {
    #[default]
    Canvas,
    Model,
}

/// The preview panel's own state.
#[derive(Default)]
pub struct PreviewPanel {
    texture: Option<(u64, egui::TextureHandle)>,
    /// Preview on the left of the canvas instead of the right.
    pub swapped: bool,
    /// The image in its own window at canvas size.
    pub full_size: bool,
    pub seed_locked: bool,
    pub recent_styles: Vec<Style>,
    pub export_size: ExportSize,
}

impl PreviewPanel {
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        live: Option<&mut LiveTranslation>,
        picker: &mut ModelPicker,
        canvas_size: [u32; 2],
    ) -> PreviewEvents {
        let mut events = PreviewEvents::default();
        ui.heading("Preview");
        model_picker(ui, picker, &mut events);
        ui.separator();
        let Some(live) = live else {
            ui.with_layout(
                Layout::centered_and_justified(egui::Direction::TopDown),
                |ui| {
                    ui.label(RichText::new("No model loaded").weak().size(16.0));
                },
            );
            return events;
        };
        self.status_row(ui, live);
        if live.info.uses_style {
            self.style_controls(ui, live, &mut events);
        }
        self.export_row(ui, live, &mut events);
        if let Some(error) = &live.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Error: {error}"));
        }
        self.image(ui, live, canvas_size);
        events
    }

    fn status_row(&mut self, ui: &mut egui::Ui, live: &mut LiveTranslation) {
        ui.horizontal(|ui| {
            ui.label(RichText::new(&live.info.name).strong());
            if live.is_busy() {
                ui.add(egui::Spinner::new()).on_hover_text("translating");
            }
            match live.last_latency_ms() {
                Some(ms) => ui.label(format!("{ms:.0} ms")),
                None => ui.label("– ms"),
            };
        });
        if let Some(palette) = &live.foreign_palette {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "Live preview waits: the painting uses palette '{palette}', this model \
                     paints '{}'. Switch the palette back (or load a '{palette}' model).",
                    live.info.palette.name
                ),
            );
        }
        if live.held_by_training {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "Live preview paused: training uses this GPU (setting in the training panel)",
            );
        }
        ui.horizontal_wrapped(|ui| {
            let pause_label = if live.paused { "Paused" } else { "Pause" };
            ui.toggle_value(&mut live.paused, pause_label)
                .on_hover_text(if live.paused {
                    "Live updates are paused: click to resume"
                } else {
                    "Pause live updates"
                });
            ui.toggle_value(&mut self.swapped, "Swap sides");
            ui.toggle_value(&mut self.full_size, "Full size");
        });
    }

    fn style_controls(
        &mut self,
        ui: &mut egui::Ui,
        live: &mut LiveTranslation,
        events: &mut PreviewEvents,
    ) {
        ui.horizontal_wrapped(|ui| {
            let dice = ui
                .add_enabled(!self.seed_locked, egui::Button::new("Random style (dice)"))
                .on_hover_text(
                    "A new random style code: other colours and light for the same painting",
                )
                .on_disabled_hover_text("The seed is locked: untick Lock to draw a new style");
            if dice.clicked() {
                let seed = rand::random::<u32>() as u64;
                self.choose_style(live, Style { seed, photo: None });
            }
            ui.label(format!("seed {}", live.style.seed));
            ui.checkbox(&mut self.seed_locked, "Lock");
            if live.info.has_encoder && ui.button("Style from photo…").clicked() {
                events.style_from_photo = true;
            }
            if let Some(why) = &live.info.style_photo_unavailable {
                ui.add_enabled(false, egui::Button::new("Style from photo…"))
                    .on_disabled_hover_text(why.as_str());
            }
        });
        let mut chosen = None;
        ui.horizontal_wrapped(|ui| {
            ui.label("Recent:");
            for style in &self.recent_styles {
                let text = match &style.photo {
                    Some(_) => format!("photo {}", style.seed),
                    None => format!("{}", style.seed),
                };
                if ui.small_button(text).clicked() {
                    chosen = Some(style.clone());
                }
            }
        });
        if let Some(style) = chosen {
            live.set_style(style);
        }
    }

    /// Switches to `style`, remembering the previous one in the strip.
    pub fn choose_style(&mut self, live: &mut LiveTranslation, style: Style) {
        let previous = live.style.clone();
        self.recent_styles.retain(|s| *s != previous);
        self.recent_styles.insert(0, previous);
        self.recent_styles.truncate(RECENT_STYLES);
        live.set_style(style);
    }

    fn export_row(
        &mut self,
        ui: &mut egui::Ui,
        live: &LiveTranslation,
        events: &mut PreviewEvents,
    ) {
        let ready = live.latest.is_some();
        ui.horizontal_wrapped(|ui| {
            if ui
                .add_enabled(ready, egui::Button::new("Save image…"))
                .clicked()
            {
                events.export_image = true;
            }
            if ui
                .add_enabled(ready, egui::Button::new("Save side by side…"))
                .clicked()
            {
                events.export_side_by_side = true;
            }
            egui::ComboBox::from_label("Size")
                .selected_text(match self.export_size {
                    ExportSize::Canvas => "canvas",
                    ExportSize::Model => "model",
                })
                .width(70.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.export_size, ExportSize::Canvas, "canvas");
                    ui.selectable_value(&mut self.export_size, ExportSize::Model, "model");
                });
        });
    }

    fn image(&mut self, ui: &mut egui::Ui, live: &LiveTranslation, canvas_size: [u32; 2]) {
        let Some(generated) = &live.latest else {
            let text = if live.is_busy() {
                "Translating…"
            } else {
                "Paint to see a photo"
            };
            ui.with_layout(Layout::top_down(Align::Center), |ui| ui.label(text));
            return;
        };
        let stamp = live.results_received;
        if self.texture.as_ref().is_none_or(|(s, _)| *s != stamp) {
            let size = [
                generated.image.width() as usize,
                generated.image.height() as usize,
            ];
            let colour = egui::ColorImage::from_rgb(size, generated.image.as_raw());
            let texture =
                ui.ctx()
                    .load_texture("live-preview", colour, egui::TextureOptions::LINEAR);
            self.texture = Some((stamp, texture));
        }
        let Some((_, texture)) = &self.texture else {
            return;
        };
        // Shown with the canvas's aspect: the model's resolution may differ from the canvas.
        let canvas = egui::vec2(canvas_size[0] as f32, canvas_size[1] as f32);
        let avail = ui.available_size();
        let scale = (avail.x / canvas.x).min(avail.y / canvas.y).max(0.01);
        ui.add(egui::Image::new((texture.id(), canvas * scale)).alt_text(PREVIEW_IMAGE_LABEL));
        if self.full_size {
            let mut open = true;
            egui::Window::new("Generated image (canvas size)")
                .open(&mut open)
                .resizable(true)
                .show(ui.ctx(), |ui| {
                    egui::ScrollArea::both().show(ui, |ui| ui.image((texture.id(), canvas)));
                });
            self.full_size = open;
        }
    }
}

/// The model and device pickers. Choosing another model, or another device while a model is
/// selected, loads it at once; "Load model" loads the selection again.
fn model_picker(ui: &mut egui::Ui, picker: &mut ModelPicker, events: &mut PreviewEvents) {
    let (model_before, device_before) = (picker.selected.clone(), picker.device);
    let selected = picker
        .selected
        .as_deref()
        .map_or_else(|| "(no bundles found)".to_string(), bundle_name);
    let searched: Vec<String> = picker
        .folders
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    egui::ComboBox::from_label("Model")
        .selected_text(selected)
        .width(200.0)
        .show_ui(ui, |ui| {
            for dir in picker.bundles.clone() {
                let name = bundle_name(&dir);
                ui.selectable_value(&mut picker.selected, Some(dir), name);
            }
        })
        .response
        .on_hover_text(format!(
            "Models from:\n{}\n\nShipped models are looked for in the data folders:\n{}",
            if searched.is_empty() {
                "(no folder)".to_string()
            } else {
                searched.join("\n")
            },
            crate::shipped::describe_roots()
        ));
    ui.horizontal_wrapped(|ui| {
        egui::ComboBox::from_label("Device")
            .selected_text(picker.device.label())
            .width(60.0)
            .show_ui(ui, |ui| {
                for device in picker.devices.clone() {
                    ui.selectable_value(&mut picker.device, device, device.label());
                }
            });
        let can_load = picker.can_load() && picker.selected.is_some() && !picker.is_loading();
        if ui
            .add_enabled(can_load, egui::Button::new("Load model"))
            .clicked()
        {
            events.load = picker.selected.clone();
        }
        if ui.button("Add folder…").clicked() {
            events.add_folder = true;
        }
        if ui
            .button("Import .pth…")
            .on_hover_text("A generator checkpoint from the SPADE, pix2pixHD or pix2pix repos")
            .clicked()
        {
            events.import_checkpoint = true;
        }
        if picker.is_loading() {
            ui.add(egui::Spinner::new());
            ui.label("loading…");
        }
    });
    let changed = picker.selected != model_before || picker.device != device_before;
    if changed && picker.selected.is_some() && picker.can_load() && !picker.is_loading() {
        events.load = picker.selected.clone();
    }
}
