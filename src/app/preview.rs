//! The preview area beside the canvas. The translation work (live GAN preview) fills it; until a
//! model is loaded it says so. It only displays: generation runs in workers owned elsewhere.
use egui::{Align, Layout, RichText};

/// What the preview currently shows.
#[derive(Default)]
pub enum PreviewState {
    /// No model is loaded.
    #[default]
    NoModel,
    /// A model is loaded; the text says which and what it is doing.
    Status(String),
    /// The latest generated image.
    Image(egui::TextureHandle),
}

/// The preview panel; the live-translation feature replaces `state` as results arrive.
#[derive(Default)]
pub struct PreviewPanel {
    pub state: PreviewState,
}

impl PreviewPanel {
    pub fn show(&mut self, ui: &mut egui::Ui) {
        ui.heading("Preview");
        ui.separator();
        match &self.state {
            PreviewState::NoModel => {
                ui.with_layout(
                    Layout::centered_and_justified(egui::Direction::TopDown),
                    |ui| {
                        ui.label(RichText::new("No model loaded").weak().size(16.0));
                    },
                );
            }
            PreviewState::Status(text) => {
                ui.with_layout(Layout::top_down(Align::Center), |ui| {
                    ui.label(text.as_str())
                });
            }
            PreviewState::Image(texture) => {
                let size = ui.available_size();
                let tex = texture.size_vec2();
                let scale = (size.x / tex.x).min(size.y / tex.y).max(0.01);
                ui.image((texture.id(), tex * scale));
            }
        }
    }
}
