//! The preview (issue 18: as large as the painting, as NVIDIA Canvas shows it): the generated
//! image in its half of the split beside the canvas, with its row of view controls (pause,
//! swap sides, match the canvas's zoom and pan or fit, full size); and, in the side panel, the
//! model picker and device (`model_picker.rs`), the style controls of VAE models
//! (`style_controls.rs`) and export. It only displays and reports what the user asked for; the
//! painter acts on it.
use super::models::ModelPicker;
use crate::live::LiveTranslation;
use egui::{Align, Layout, RichText};
use std::path::PathBuf;

/// Accessible name of the generated image.
pub const PREVIEW_IMAGE_LABEL: &str = "Generated image";
pub use super::style_controls::{RecentStyle, RECENT_STYLES, STYLE_COLOURS_LABEL, THUMBNAIL_WIDTH};

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

/// How the generated image is placed in its half of the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PreviewPlacement {
    /// The canvas's zoom and pan: each generated pixel beside the painted one.
    #[default]
    MatchCanvas,
    /// The whole image, as large as the half allows.
    Fit,
}

/// Where the canvas shows the painting: its area and the painting's rectangle on screen.
#[derive(Debug, Clone, Copy)]
pub struct CanvasPlacement {
    pub area: egui::Rect,
    pub image: egui::Rect,
}

/// The preview's own state.
pub struct PreviewPanel {
    texture: Option<(u64, egui::TextureHandle)>,
    /// Preview on the left of the canvas instead of the right.
    pub swapped: bool,
    /// The preview fills the whole work area (the canvas is hidden until it is turned off).
    pub full_size: bool,
    pub placement: PreviewPlacement,
    /// The canvas's share of the work area's width (the split handle moves it).
    pub split: f32,
    pub seed_locked: bool,
    pub recent_styles: Vec<RecentStyle>,
    pub export_size: ExportSize,
}

impl Default for PreviewPanel {
    fn default() -> Self {
        PreviewPanel {
            texture: None,
            swapped: false,
            full_size: false,
            placement: PreviewPlacement::default(),
            split: 0.5,
            seed_locked: false,
            recent_styles: Vec::new(),
            export_size: ExportSize::default(),
        }
    }
}

impl PreviewPanel {
    /// The side panel's model section: picker and device, then for a loaded model its
    /// warnings, style controls and export.
    pub fn show_controls(
        &mut self,
        ui: &mut egui::Ui,
        live: Option<&mut LiveTranslation>,
        picker: &mut ModelPicker,
    ) -> PreviewEvents {
        let mut events = PreviewEvents::default();
        super::model_picker::show(ui, picker, &mut events);
        let Some(live) = live else {
            return events;
        };
        if live.info.uses_style {
            ui.separator();
            self.style_controls(ui, live, &mut events);
        }
        ui.separator();
        self.export_row(ui, live, &mut events);
        events
    }

    /// The preview's half of the work area: its row of view controls, then the image.
    pub fn show_image(
        &mut self,
        ui: &mut egui::Ui,
        live: Option<&mut LiveTranslation>,
        canvas: Option<CanvasPlacement>,
        canvas_size: [u32; 2],
    ) {
        let Some(live) = live else {
            self.view_row(ui, None);
            ui.with_layout(
                Layout::centered_and_justified(egui::Direction::TopDown),
                |ui| {
                    ui.label(RichText::new("No model loaded").weak().size(16.0));
                },
            );
            return;
        };
        self.view_row(ui, Some(&mut *live));
        let area = ui.available_rect_before_wrap();
        self.image(ui, live, area, canvas, canvas_size);
        warnings(ui, live, area);
    }

    /// The model's name and latency on the left, the view controls on the right; where the
    /// area is too narrow for both (a small window with the training panel open), the
    /// controls take a second row instead of drawing over the name.
    fn view_row(&mut self, ui: &mut egui::Ui, mut live: Option<&mut LiveTranslation>) {
        let width_id = ui.scope_id().with("preview-controls-width");
        let controls_width = ui
            .ctx()
            .data(|d| d.get_temp::<f32>(width_id))
            .unwrap_or(CONTROLS_WIDTH_GUESS);
        let mut beside_status = 0.0;
        let mut fits = false;
        ui.horizontal(|ui| {
            ui.set_min_height(HEADER_HEIGHT);
            ui.add_space(HEADER_PADDING);
            status(ui, live.as_deref());
            beside_status = ui.available_size_before_wrap().x;
            fits = beside_status >= controls_width;
            if fits {
                self.controls_beside_status(ui, live.as_deref_mut(), width_id);
            }
        });
        if !fits {
            self.controls_on_own_rows(ui, live);
        }
        let measured = ui.ctx().data(|d| d.get_temp::<f32>(width_id));
        if measured.is_some_and(|width| (beside_status >= width) != fits) {
            ui.ctx()
                .request_discard("the preview's controls were laid out for another width");
        }
    }

    /// Pause, placement, swap sides and full size, right-aligned beside the status; their
    /// width goes to `width_id` for the next frame's choice of rows.
    fn controls_beside_status(
        &mut self,
        ui: &mut egui::Ui,
        mut live: Option<&mut LiveTranslation>,
        width_id: egui::Id,
    ) {
        let response = ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            ui.add_space(HEADER_PADDING);
            for control in ViewControl::IN_READING_ORDER.into_iter().rev() {
                self.control(ui, live.as_deref_mut(), control);
            }
        });
        let width = response.response.rect.width();
        ui.ctx().data_mut(|d| d.insert_temp(width_id, width));
    }

    /// The same controls under the status, on rows that wrap, each padded as the header is.
    fn controls_on_own_rows(&mut self, ui: &mut egui::Ui, mut live: Option<&mut LiveTranslation>) {
        let padding = egui::Margin::symmetric(HEADER_PADDING as i8, 0);
        egui::Frame::NONE.inner_margin(padding).show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for control in ViewControl::IN_READING_ORDER {
                    self.control(ui, live.as_deref_mut(), control);
                }
            });
        });
    }

    fn control(
        &mut self,
        ui: &mut egui::Ui,
        live: Option<&mut LiveTranslation>,
        control: ViewControl,
    ) {
        match control {
            ViewControl::Pause => {
                if let Some(live) = live {
                    let pause_label = if live.paused { "Paused" } else { "Pause" };
                    ui.toggle_value(&mut live.paused, pause_label)
                        .on_hover_text(if live.paused {
                            "Live updates are paused: click to resume"
                        } else {
                            "Pause live updates"
                        });
                }
            }
            ViewControl::Placement => {
                egui::ComboBox::from_id_salt("preview-placement")
                    .selected_text(placement_name(self.placement))
                    .width(110.0)
                    .show_ui(ui, |ui| {
                        for placement in [PreviewPlacement::MatchCanvas, PreviewPlacement::Fit] {
                            let name = placement_name(placement);
                            ui.selectable_value(&mut self.placement, placement, name);
                        }
                    })
                    .response
                    .on_hover_text("Follow the canvas's zoom and pan, or fit the whole image");
            }
            ViewControl::SwapSides => {
                ui.toggle_value(&mut self.swapped, "Swap sides");
            }
            ViewControl::FullSize => {
                let full = if self.full_size {
                    "Back to canvas"
                } else {
                    "Full size"
                };
                ui.toggle_value(&mut self.full_size, full)
                    .on_hover_text("The generated image fills the window");
            }
        }
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

    fn image(
        &mut self,
        ui: &mut egui::Ui,
        live: &LiveTranslation,
        area: egui::Rect,
        canvas: Option<CanvasPlacement>,
        canvas_size: [u32; 2],
    ) {
        let response = ui.allocate_rect(area, egui::Sense::hover());
        ui.painter()
            .rect_filled(area, 0.0, ui.visuals().extreme_bg_color);
        let Some(generated) = &live.latest else {
            let text = if live.is_busy() {
                "Translating…"
            } else {
                "Paint to see a photo"
            };
            ui.painter().text(
                area.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(16.0),
                ui.visuals().weak_text_color(),
            );
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
        let rect = self.image_rect(area, canvas, canvas_size);
        let uv = egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(1.0, 1.0));
        ui.painter()
            .with_clip_rect(area)
            .image(texture.id(), rect, uv, egui::Color32::WHITE);
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Image, true, PREVIEW_IMAGE_LABEL)
        });
    }

    /// Where the image goes in `area`: beside the painting at the canvas's zoom and pan, or
    /// fitted (always fitted in full size, or when the canvas is hidden).
    pub fn image_rect(
        &self,
        area: egui::Rect,
        canvas: Option<CanvasPlacement>,
        canvas_size: [u32; 2],
    ) -> egui::Rect {
        match canvas {
            Some(canvas) if self.placement == PreviewPlacement::MatchCanvas && !self.full_size => {
                canvas.image.translate(area.min - canvas.area.min)
            }
            _ => {
                // Shown with the canvas's aspect: the model's resolution may differ.
                let size = egui::vec2(canvas_size[0] as f32, canvas_size[1] as f32);
                let scale = (area.width() / size.x)
                    .min(area.height() / size.y)
                    .max(0.01);
                egui::Rect::from_center_size(area.center(), size * scale * FIT_MARGIN)
            }
        }
    }
}

/// The model's name, its last frame's time and whether one is on its way.
fn status(ui: &mut egui::Ui, live: Option<&LiveTranslation>) {
    match live {
        Some(live) => {
            ui.label(RichText::new(&live.info.name).strong());
            match &live.latest {
                Some(g) if g.in_stroke => ui
                    .label(format!("stroke {:.0} ms", g.latency_ms))
                    .on_hover_text(
                        "An update while painting: only what the stroke changed is \
                         recomputed where the model allows; the stroke's end is exact",
                    ),
                Some(g) => ui.label(format!("{:.0} ms", g.latency_ms)),
                None => ui.label("– ms"),
            };
            if live.is_busy() {
                ui.add(egui::Spinner::new()).on_hover_text("translating");
            }
        }
        None => {
            ui.label(RichText::new("Preview").strong());
        }
    }
}

/// The preview's view controls.
#[derive(Debug, Clone, Copy)]
enum ViewControl {
    Pause,
    Placement,
    SwapSides,
    FullSize,
}

impl ViewControl {
    const IN_READING_ORDER: [Self; 4] = [
        Self::Pause,
        Self::Placement,
        Self::SwapSides,
        Self::FullSize,
    ];
}

/// The view controls' width before the first frame measures it, in points.
const CONTROLS_WIDTH_GUESS: f32 = 330.0;

/// Height of the view-control rows above the canvas and the preview (they line up).
pub const HEADER_HEIGHT: f32 = 24.0;
/// Space before the first and after the last item of a header row.
pub const HEADER_PADDING: f32 = 6.0;
/// A fitted image leaves this share of the area around it, as the canvas's fit does.
const FIT_MARGIN: f32 = 0.95;

fn placement_name(placement: PreviewPlacement) -> &'static str {
    match placement {
        PreviewPlacement::MatchCanvas => "Match canvas",
        PreviewPlacement::Fit => "Fit",
    }
}

/// Why the image does not follow the painting, over its top edge.
fn warnings(ui: &mut egui::Ui, live: &LiveTranslation, area: egui::Rect) {
    let mut lines: Vec<String> = Vec::new();
    if let Some(palette) = &live.foreign_palette {
        lines.push(format!(
            "Live preview waits: the painting uses palette '{palette}', this model paints \
             '{}'. Switch the palette back (or load a '{palette}' model).",
            live.info.palette.name
        ));
    }
    if live.held_by_training {
        lines.push(
            "Live preview paused: training uses this GPU (setting in the training panel)".into(),
        );
    }
    if let Some(error) = &live.error {
        lines.push(format!("Error: {error}"));
    }
    if lines.is_empty() {
        return;
    }
    let mut overlay = ui.new_child(
        egui::UiBuilder::new()
            .max_rect(area.shrink(8.0))
            .layout(Layout::top_down(Align::Min)),
    );
    egui::Frame::popup(overlay.style()).show(&mut overlay, |ui| {
        for line in lines {
            ui.colored_label(ui.visuals().warn_fg_color, line);
        }
    });
}
