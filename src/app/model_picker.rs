//! The model and device pickers of the preview's side panel: the bundles found in the model
//! folders (shipped ones included), the device to run them on, and the buttons that add a folder
//! or import a published `.pth` checkpoint. It reports what the user asked for in
//! `PreviewEvents`; the painter loads.
use super::models::{bundle_name, ModelPicker};
use super::preview::PreviewEvents;

/// The model and device pickers. Choosing another model, or another device while a model is
/// selected, loads it at once; "Load model" loads the selection again.
pub fn show(ui: &mut egui::Ui, picker: &mut ModelPicker, events: &mut PreviewEvents) {
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
    if let Some(dir) = &picker.loading {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("loading {}…", bundle_name(dir)));
        });
    }
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
    });
    let changed = picker.selected != model_before || picker.device != device_before;
    if changed && picker.selected.is_some() && picker.can_load() && !picker.is_loading() {
        events.load = picker.selected.clone();
    }
}
