//! Draws the modal dialogs (`modal` holds which is open): new canvas (size presets), restore
//! an autosave, a failed import (offering "map to nearest class" when colours were unknown),
//! the unsaved-changes question and the published-checkpoint import (`import_dialog`).
use super::modal::Modal;
use super::PainterApp;
use crate::labelmap::UnknownColour;
use crate::paint::{CANVAS_PRESETS, MAX_CANVAS_SIDE};
use std::path::PathBuf;

/// Shows `modal`; returns it back while it should stay open.
pub fn show(app: &mut PainterApp, ctx: &egui::Context, modal: Modal) -> Option<Modal> {
    let mut next = Some(modal.clone());
    egui::Modal::new(egui::Id::unique("scenepaint-modal")).show(ctx, |ui| {
        ui.set_max_width(520.0);
        next = match modal {
            Modal::NewCanvas { width, height } => new_canvas(app, ui, width, height),
            Modal::Restore { paths } => restore(app, ui, paths),
            Modal::ImportFailed {
                path,
                message,
                unknown_colours,
            } => import_failed(app, ui, path, message, unknown_colours),
            Modal::ImportCheckpoint(form) => super::import_dialog::show(app, ui, form),
            Modal::UnsavedChanges { then } => unsaved_changes(app, ui, then),
        };
    });
    next
}

fn new_canvas(
    app: &mut PainterApp,
    ui: &mut egui::Ui,
    mut width: u32,
    mut height: u32,
) -> Option<Modal> {
    ui.heading("New canvas");
    ui.label("A new document: the current painting and its undo history are replaced.");
    ui.horizontal_wrapped(|ui| {
        for &(w, h) in CANVAS_PRESETS {
            if ui
                .selectable_label((width, height) == (w, h), format!("{w}x{h}"))
                .clicked()
            {
                (width, height) = (w, h);
            }
        }
    });
    ui.horizontal(|ui| {
        ui.label("Custom");
        ui.add(
            egui::DragValue::new(&mut width)
                .range(1..=MAX_CANVAS_SIDE)
                .suffix(" px"),
        );
        ui.label("x");
        ui.add(
            egui::DragValue::new(&mut height)
                .range(1..=MAX_CANVAS_SIDE)
                .suffix(" px"),
        );
    });
    let mut keep = Some(Modal::NewCanvas { width, height });
    ui.horizontal(|ui| {
        if ui.button("Create").clicked() {
            if let Err(e) = app.new_canvas(width, height) {
                app.message = Some(format!("Error: {e}"));
            }
            keep = None;
        }
        if ui.button("Cancel").clicked() {
            keep = None;
        }
    });
    keep
}

fn restore(app: &mut PainterApp, ui: &mut egui::Ui, paths: Vec<PathBuf>) -> Option<Modal> {
    let path = paths.first().cloned()?;
    let rest = paths[1..].to_vec();
    ui.heading("Restore unsaved painting?");
    ui.label(match paths.len() {
        1 => "An earlier session left a painting that was never saved:".to_string(),
        n => format!("Earlier sessions left {n} paintings that were never saved; the newest:"),
    });
    ui.monospace(path.display().to_string());
    if let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) {
        let age_min = modified.elapsed().map_or(0, |d| d.as_secs() / 60);
        ui.label(format!("autosaved {age_min} min ago"));
    }
    let mut keep = Some(Modal::Restore {
        paths: paths.clone(),
    });
    ui.horizontal(|ui| {
        if ui.button("Restore").clicked() {
            if let Err(e) = app.restore_autosave(&path) {
                app.message = Some(format!("Error: {e}"));
            } else if !rest.is_empty() {
                app.message = Some(format!(
                    "restored the newest; {} more unsaved painting(s) are kept and offered at the next start",
                    rest.len()
                ));
            }
            keep = None;
        }
        if ui.button("Discard").on_hover_text("Delete this autosave").clicked() {
            if let Err(e) = super::autosave::Autosave::discard(&path) {
                app.message = Some(format!("Error: {e}"));
            }
            keep = (!rest.is_empty()).then_some(Modal::Restore {
                paths: rest.clone(),
            });
        }
        if ui.button("Later").on_hover_text("Keep every autosave and ask at the next start").clicked() {
            keep = None;
        }
    });
    keep
}

fn unsaved_changes(
    app: &mut PainterApp,
    ui: &mut egui::Ui,
    then: super::toolbar::Action,
) -> Option<Modal> {
    use super::toolbar::Action;
    let what = match then {
        Action::Quit => "Quit",
        Action::OpenProject | Action::OpenRecent(_) => "Open another painting",
        Action::ImportLabelMap => "Import a label map",
        _ => "Start a new canvas",
    };
    ui.heading("Save changes to the painting?");
    ui.label(format!(
        "{what}: the painting has changes that are not saved in a project file."
    ));
    let mut next = Some(Modal::UnsavedChanges { then });
    ui.horizontal(|ui| {
        if ui.button("Save…").clicked() {
            next = None;
            app.save_then(Some(then));
        }
        if ui
            .button("Discard changes")
            .on_hover_text("Drop the unsaved changes (the autosave is removed too)")
            .clicked()
        {
            next = None;
            app.discard_unsaved_work();
            app.perform_now(then);
        }
        if ui.button("Cancel").clicked() {
            next = None;
        }
    });
    // NewCanvas opens its own dialog: keep it rather than closing over it.
    if next.is_none() && app.modal.is_some() {
        return app.modal.take();
    }
    next
}

fn import_failed(
    app: &mut PainterApp,
    ui: &mut egui::Ui,
    path: PathBuf,
    message: String,
    unknown_colours: bool,
) -> Option<Modal> {
    ui.heading("Cannot import label map");
    egui::ScrollArea::vertical()
        .max_height(240.0)
        .show(ui, |ui| ui.label(message.as_str()));
    let mut keep = Some(Modal::ImportFailed {
        path: path.clone(),
        message: message.clone(),
        unknown_colours,
    });
    ui.horizontal(|ui| {
        if unknown_colours && ui.button("Map to nearest class").clicked() {
            keep = None;
            app.import_label_map(&path, UnknownColour::MapToNearest);
        }
        if ui.button("Cancel").clicked() {
            keep = None;
        }
    });
    // import_label_map may have opened a new modal; that one wins.
    keep.or(app.modal.take())
}
