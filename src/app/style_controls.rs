//! The preview's style controls for SPADE VAE models: the dice (a random style seed, lockable),
//! "Style from photo", the switch between the style's colours and the generator's own
//! (`nets::style_colours`), and the strip of recent styles with thumbnails of what they made.
use super::preview::{PreviewEvents, PreviewPanel};
use crate::live::{LiveTranslation, Style};

/// The switch between the style's colours and the generator's own.
pub const STYLE_COLOURS_LABEL: &str = "Colour and light from the style";
/// How many recent styles the strip keeps.
pub const RECENT_STYLES: usize = 8;

/// A style the user had before, with a small picture of what it made.
pub struct RecentStyle {
    pub style: Style,
    pub thumbnail: Option<image::RgbImage>,
    texture: Option<egui::TextureHandle>,
}

/// Width of a recent style's thumbnail, in pixels (and points).
pub const THUMBNAIL_WIDTH: u32 = 56;

fn thumbnail_of(image: &image::RgbImage) -> image::RgbImage {
    let height = (THUMBNAIL_WIDTH * image.height() / image.width().max(1)).max(1);
    image::imageops::thumbnail(image, THUMBNAIL_WIDTH, height)
}

/// The thumbnail as an image button (the seed as its tooltip), or a text button without one.
fn recent_style_button(
    ui: &mut egui::Ui,
    recent: &mut RecentStyle,
    index: usize,
    text: &str,
) -> egui::Response {
    let Some(thumbnail) = &recent.thumbnail else {
        return ui.small_button(text);
    };
    let texture = recent.texture.get_or_insert_with(|| {
        let size = [thumbnail.width() as usize, thumbnail.height() as usize];
        let colour = egui::ColorImage::from_rgb(size, thumbnail.as_raw());
        ui.ctx().load_texture(
            format!("recent-style-{index}"),
            colour,
            egui::TextureOptions::LINEAR,
        )
    });
    let size = egui::vec2(thumbnail.width() as f32, thumbnail.height() as f32);
    let response = ui.add(egui::Button::image((texture.id(), size)));
    let label = text.to_string();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
    response.on_hover_text(text)
}

impl PreviewPanel {
    pub(super) fn style_controls(
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
                let style = Style {
                    seed,
                    photo: None,
                    ..live.style.clone()
                };
                self.choose_style(live, style);
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
        let mut photo_colours = !live.style.generator_colours;
        let hint = match live.info.has_style_colours {
            true => "The style sets the image's colour and light: those of the style photo, or for a random style those of a training photo",
            false => "The style photo sets the image's colour and light (this model has no training photos' colours for random styles)",
        };
        if ui
            .checkbox(&mut photo_colours, STYLE_COLOURS_LABEL)
            .on_hover_text(hint)
            .changed()
        {
            let style = Style {
                generator_colours: !photo_colours,
                ..live.style.clone()
            };
            live.set_style(style);
        }
        if self.recent_styles.is_empty() {
            return;
        }
        let mut chosen = None;
        ui.label("Recent styles:");
        ui.horizontal_wrapped(|ui| {
            for (i, recent) in self.recent_styles.iter_mut().enumerate() {
                let text = match &recent.style.photo {
                    Some(_) => format!("recent: photo {}", recent.style.seed),
                    None => format!("recent: seed {}", recent.style.seed),
                };
                if recent_style_button(ui, recent, i, &text).clicked() {
                    chosen = Some(recent.style.clone());
                }
            }
        });
        if let Some(style) = chosen {
            // The colour switch is the preview's, not the remembered style's.
            let generator_colours = live.style.generator_colours;
            live.set_style(Style {
                generator_colours,
                ..style
            });
        }
    }

    /// Switches to `style`, remembering the previous one in the strip with a thumbnail of
    /// the image it made.
    pub fn choose_style(&mut self, live: &mut LiveTranslation, style: Style) {
        let previous = live.style.clone();
        let thumbnail = live
            .latest
            .as_ref()
            .filter(|generated| generated.style == previous)
            .map(|generated| thumbnail_of(&generated.image));
        // The colour switch is the preview's: styles that differ only in it are one style.
        let same = |s: &Style| s.seed == previous.seed && s.photo == previous.photo;
        self.recent_styles.retain(|s| !same(&s.style));
        self.recent_styles.insert(
            0,
            RecentStyle {
                style: previous,
                thumbnail,
                texture: None,
            },
        );
        self.recent_styles.truncate(RECENT_STYLES);
        live.set_style(style);
    }
}
