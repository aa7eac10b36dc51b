//! The training panel's options: the dataset (typed or chosen) and its palette, network and
//! preset (each with its one-line description; choosing one fills in its iterations, batch,
//! crop, VGG weight, learning rate and its decay), the model a run starts from, the small-data
//! aids (DiffAugment, a weight average), intervals, FID, the output folder and the device.
use super::training_panel::{TrainingEvents, TrainingPanel};
use crate::device::DeviceChoice;
use crate::train::config::{self, NetFamily};
use std::path::PathBuf;

impl TrainingPanel {
    /// The preset's own iterations, batch, crop and VGG weight fill the fields.
    pub fn apply_preset(&mut self) {
        if let Ok(preset) = config::preset(&self.preset) {
            self.net = preset.net;
            self.iters = preset.iters;
            self.batch_size = preset.batch_size;
            self.crop_width = preset.crop_width;
            self.crop_height = preset.crop_height;
            self.lambda_vgg = preset.lambda_vgg;
            self.diff_augment = preset.diff_augment.is_some();
            self.average_weights = preset.average_decay.is_some();
            self.lr = preset.lr;
            self.decay_start = preset.decay_start.unwrap_or(preset.iters / 2);
        }
    }

    /// Dataset folder (typed, or "Choose…"), its palette, and what `dataset inspect` finds.
    pub(super) fn dataset_row(&mut self, ui: &mut egui::Ui, events: &mut TrainingEvents) {
        let running = self.is_training();
        ui.horizontal(|ui| {
            ui.label("Dataset");
            let edit = egui::TextEdit::singleline(&mut self.dataset_text)
                .hint_text("a folder of images/ and labels/")
                .desired_width(ui.available_width() - 90.0);
            let typed = ui.add_enabled(!running, edit);
            let entered = typed.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let typed_path = PathBuf::from(self.dataset_text.trim());
            if (entered || typed.lost_focus())
                && !self.dataset_text.trim().is_empty()
                && self.dataset.as_ref() != Some(&typed_path)
            {
                self.set_dataset(typed_path);
            }
            if ui
                .add_enabled(!running, egui::Button::new("Choose…"))
                .clicked()
            {
                events.pick_dataset = true;
            }
        });
        ui.horizontal(|ui| {
            let before = self.palette.clone();
            let shown = self
                .palette
                .clone()
                .unwrap_or_else(|| "(what the dataset implies)".to_string());
            ui.add_enabled_ui(!running, |ui| {
                egui::ComboBox::from_label("Dataset palette")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.palette, None, "(what the dataset implies)");
                        for name in crate::labels::Palette::builtin_names() {
                            ui.selectable_value(&mut self.palette, Some(name.to_string()), name);
                        }
                    })
            });
            if self.palette != before {
                if let Some(dir) = self.dataset.clone() {
                    self.set_dataset(dir);
                }
            }
        });
        if !self.inspect_text.is_empty() {
            egui::CollapsingHeader::new("What dataset inspect finds")
                .default_open(false)
                .show(ui, |ui| ui.monospace(&self.inspect_text));
        }
    }

    pub(super) fn options(&mut self, ui: &mut egui::Ui, events: &mut TrainingEvents) {
        ui.horizontal_wrapped(|ui| {
            egui::ComboBox::from_label("Network")
                .selected_text(format!("{:?}", self.net))
                .show_ui(ui, |ui| {
                    for net in [NetFamily::Spade, NetFamily::Pix2pixhd, NetFamily::Pix2pix] {
                        if ui
                            .selectable_value(&mut self.net, net, format!("{net:?}"))
                            .clicked()
                        {
                            self.preset = config::default_preset(net).to_string();
                            self.apply_preset();
                        }
                    }
                });
            let before = self.preset.clone();
            egui::ComboBox::from_label("Preset")
                .selected_text(self.preset.clone())
                .show_ui(ui, |ui| {
                    for preset in config::presets_of(self.net) {
                        ui.selectable_value(&mut self.preset, preset.to_string(), preset)
                            .on_hover_text(config::preset_description(preset));
                    }
                });
            if self.preset != before {
                self.apply_preset();
            }
        });
        ui.weak(config::preset_description(&self.preset));
        ui.horizontal_wrapped(|ui| {
            labelled_number(ui, "Iterations", &mut self.iters, 1..=10_000_000);
            labelled_number(ui, "Batch", &mut self.batch_size, 1..=64);
            labelled(ui, "Crop", |ui, label| {
                ui.add(egui::DragValue::new(&mut self.crop_width).range(16..=2048))
                    .labelled_by(label)
                    .on_hover_text("width, pixels");
                ui.label("×");
                ui.add(egui::DragValue::new(&mut self.crop_height).range(16..=2048))
                    .labelled_by(label)
                    .on_hover_text("height, pixels");
                ui.label("px")
            });
        });
        ui.horizontal_wrapped(|ui| {
            labelled_number(ui, "Sample every", &mut self.sample_every, 1..=100_000);
            labelled_number(
                ui,
                "Checkpoint every",
                &mut self.checkpoint_every,
                1..=100_000,
            );
            labelled_number(ui, "VGG loss weight", &mut self.lambda_vgg, 0.0..=100.0);
        });
        self.schedule_options(ui, events);
        self.small_data_options(ui);
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("FID every").on_hover_text(
                "FID and KID on held-out pairs (0 = off); the preset's held-out pairs, else \
                 every 10th",
            );
            ui.add(egui::DragValue::new(&mut self.eval_every).range(0..=1_000_000))
                .labelled_by(label.id);
            ui.add_enabled(
                self.eval_every > 0,
                egui::Checkbox::new(&mut self.keep_best_fid, "keep best"),
            );
        });
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Output folder");
            let mut text = self.run_dir.display().to_string();
            if ui
                .text_edit_singleline(&mut text)
                .labelled_by(label.id)
                .changed()
            {
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

    /// The learning rate, where it starts to decay, and the model a run starts from (how the
    /// default model's later runs continued from a bundle with a decaying rate).
    fn schedule_options(&mut self, ui: &mut egui::Ui, events: &mut TrainingEvents) {
        ui.horizontal_wrapped(|ui| {
            labelled(ui, "Learning rate", |ui, label| {
                ui.add(
                    egui::DragValue::new(&mut self.lr)
                        .range(1e-6..=1e-2)
                        .speed(1e-5)
                        .max_decimals(6),
                )
                .labelled_by(label)
                .on_hover_text("Adam's rate for the generator; with TTUR (SPADE) D's is 4x")
            });
            let iters = self.iters;
            labelled(ui, "Decay from iteration", |ui, label| {
                ui.add(egui::DragValue::new(&mut self.decay_start).range(0..=iters))
                    .labelled_by(label)
                    .on_hover_text(
                        "From here the learning rates fall linearly to 0 at the last iteration",
                    )
            });
        });
        ui.horizontal(|ui| {
            ui.label("Start from model");
            let edit = egui::TextEdit::singleline(&mut self.start_from)
                .hint_text("none: fresh weights")
                .desired_width(ui.available_width() - 120.0);
            ui.add(edit).on_hover_text(
                "A model folder whose generator (and style encoder and discriminators, where \
                 they fit) start the run",
            );
            if ui.button("Choose model…").clicked() {
                events.pick_start_from = true;
            }
        });
    }

    /// The aids for datasets of a few hundred pairs that the default model's runs used.
    fn small_data_options(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let spade = self.net == NetFamily::Spade;
            ui.add_enabled(
                spade,
                egui::Checkbox::new(&mut self.diff_augment, "DiffAugment"),
            )
            .on_hover_text(
                "The discriminators see real and generated images through the same random \
                 colour, shift and cutout, so they cannot memorise a small dataset",
            )
            .on_disabled_hover_text("implemented for SPADE only");
            ui.checkbox(&mut self.average_weights, "Average the generator's weights")
                .on_hover_text(format!(
                    "The bundle gets a running average of the generator's weights (decay {}), \
                     usually smoother than the last step's; with FID on, both are scored",
                    crate::train::average::USUAL_DECAY
                ));
        });
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
}

/// A label and its field(s) in a wrapping row, moved to the next line together when they do
/// not fit, so a row never ends on a label whose field is below it. A nested `ui.horizontal`
/// would keep them together too, but the wrapping row cannot move it and the panel widens.
/// The width is the last frame's (first frame: the label and one field's default width;
/// a guess that splits them discards the pass, so the split is never shown).
/// `add` gets the label's id for its fields' `labelled_by` (their name for a screen reader).
fn labelled<R>(
    ui: &mut egui::Ui,
    label: &str,
    add: impl FnOnce(&mut egui::Ui, egui::Id) -> R,
) -> R {
    let id = ui.scope_id().with(("labelled", label));
    let label_width = egui::WidgetText::from(label)
        .into_galley(
            ui,
            Some(egui::TextWrapMode::Extend),
            f32::INFINITY,
            egui::TextStyle::Body,
        )
        .size()
        .x;
    let guess = label_width + ui.spacing().item_spacing.x + ui.spacing().interact_size.x;
    let width = ui.ctx().data(|d| d.get_temp::<f32>(id)).unwrap_or(guess);
    let mut at_row_start = ui.cursor().min.x <= ui.max_rect().min.x + 0.5;
    if !at_row_start && ui.available_size_before_wrap().x < width {
        ui.end_row();
        at_row_start = true;
    }
    let start = ui.cursor().min;
    let label_id = ui.label(label).id;
    let inner = add(ui, label_id);
    let end = ui.cursor().min;
    if end.y == start.y {
        ui.ctx().data_mut(|d| d.insert_temp(id, end.x - start.x));
    } else if !at_row_start {
        // Split across rows: start the next pass on a row of its own, where it is measured.
        ui.ctx().data_mut(|d| d.insert_temp(id, f32::INFINITY));
        ui.ctx()
            .request_discard("a label and its field split across rows");
    }
    inner
}

/// [`labelled`] with one number field.
fn labelled_number<N: egui::emath::Numeric>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut N,
    range: std::ops::RangeInclusive<N>,
) -> egui::Response {
    labelled(ui, label, |ui, label| {
        ui.add(egui::DragValue::new(value).range(range))
            .labelled_by(label)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_preset_fills_in_its_fields_and_runs_go_to_the_data_folder() {
        let mut panel = TrainingPanel::default();
        panel.preset = "pix2pixhd-compact".to_string();
        panel.apply_preset();
        let preset = config::preset("pix2pixhd-compact").unwrap();
        assert_eq!(panel.net, NetFamily::Pix2pixhd);
        assert_eq!(
            (
                panel.iters,
                panel.batch_size,
                panel.crop_width,
                panel.crop_height
            ),
            (
                preset.iters,
                preset.batch_size,
                preset.crop_width,
                preset.crop_height
            )
        );
        assert_eq!(panel.config().unwrap().crop_width, preset.crop_width);
        // A crop of the data's shape keeps the preset's margin: 286 loads for 256 crops.
        panel.preset = "spade-compact".to_string();
        panel.apply_preset();
        (panel.crop_width, panel.crop_height) = (256, 128);
        let config = panel.config().unwrap();
        assert_eq!((config.crop_width, config.crop_height), (256, 128));
        assert_eq!((config.load_width, config.load_height), (286, 143));
        let run_dir = super::super::training_panel::default_run_dir();
        assert!(
            run_dir.ends_with("gui") && run_dir.is_absolute(),
            "{run_dir:?}"
        );
        assert_ne!(run_dir, std::env::current_dir().unwrap().join("runs/gui"));
    }

    #[test]
    fn a_wrapping_row_keeps_each_label_beside_its_field() {
        use egui::accesskit::Role;
        use egui_kittest::kittest::{By, Queryable};
        let labels = [
            ("Iterations", 1),
            ("Batch", 1),
            ("Crop", 2),
            ("Sample every", 1),
            ("Checkpoint every", 1),
            ("VGG loss weight", 1),
            ("Learning rate", 1),
            ("Decay from iteration", 1),
            ("FID every", 1),
        ];
        for width in (260..=560).step_by(15) {
            let mut panel = TrainingPanel::default();
            let mut h = egui_kittest::Harness::builder()
                .with_size(egui::vec2(width as f32, 700.0))
                .build_ui(move |ui| panel.options(ui, &mut TrainingEvents::default()));
            // Every field has an accessible name (the harness checks), its label's.
            h.run();
            for (label, count) in labels {
                let at = h
                    .get(By::new().label(label).role(Role::Label).include_labels())
                    .rect();
                let fields: Vec<egui::Rect> = h
                    .get_all(By::new().label(label).role(Role::SpinButton))
                    .map(|node| node.rect())
                    .collect();
                assert_eq!(fields.len(), count, "fields named {label:?}");
                let first = fields[0];
                assert!(
                    (first.center().y - at.center().y).abs() < 4.0 && first.left() >= at.right(),
                    "{width} points wide: {label:?} at {at:?}, its field at {first:?}"
                );
            }
        }
    }
}
