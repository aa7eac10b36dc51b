//! Draws the modal dialogs (`modal` holds which is open): new canvas (size presets), restore
//! an autosave, a failed import (offering "map to nearest class" when colours were unknown),
//! the unsaved-changes question and the published-checkpoint import (`import_dialog`).
//! The dialogs only draw: what a button asks for comes back as a [`Command`] that
//! [`PainterApp::run_dialog_commands`] carries out after the frame's drawing.
use super::files::FilePurpose;
use super::modal::{Command, Modal};
use super::toolbar::Action;
use super::PainterApp;
use crate::labelmap::UnknownColour;
use crate::paint::{CANVAS_PRESETS, MAX_CANVAS_SIDE};
use std::path::PathBuf;

/// Shows `modal`; returns it back while it should stay open, and what its buttons asked for.
/// `importing`: a checkpoint import is running (its dialog shows a spinner).
pub fn show(ctx: &egui::Context, modal: Modal, importing: bool) -> (Option<Modal>, Vec<Command>) {
    let mut next = Some(modal.clone());
    let mut commands = Vec::new();
    egui::Modal::new(egui::Id::unique("scenepaint-modal")).show(ctx, |ui| {
        ui.set_max_width(520.0);
        next = match modal {
            Modal::NewCanvas { width, height } => new_canvas(ui, width, height, &mut commands),
            Modal::Restore { paths } => restore(ui, paths, &mut commands),
            Modal::ImportFailed {
                path,
                message,
                unknown_colours,
            } => import_failed(ui, path, message, unknown_colours, &mut commands),
            Modal::ImportCheckpoint(form) => {
                super::import_dialog::show(ui, form, importing, &mut commands)
            }
            Modal::UnsavedChanges { then } => unsaved_changes(ui, then, &mut commands),
        };
    });
    (next, commands)
}

impl PainterApp {
    /// Carries out what the dialogs' buttons asked for this frame. A dialog a command opens
    /// (the new-canvas dialog after "Discard changes", a second failed import) replaces the
    /// one that asked.
    pub(super) fn run_dialog_commands(&mut self, commands: Vec<Command>, ctx: &egui::Context) {
        for command in commands {
            let result = match command {
                Command::NewCanvas { width, height } => self.new_canvas(width, height),
                Command::RestoreAutosave { path, more } => {
                    self.restore_autosave(&path).map(|()| {
                        if more > 0 {
                            self.message = Some(format!(
                                "restored the newest; {more} more unsaved painting(s) are kept and offered at the next start"
                            ));
                        }
                    })
                }
                Command::DiscardAutosave(path) => super::autosave::Autosave::discard(&path),
                Command::SaveThen(then) => {
                    self.save_then(Some(then));
                    Ok(())
                }
                Command::DiscardThen(then) => {
                    self.discard_unsaved_work();
                    self.perform_now(then);
                    Ok(())
                }
                Command::ImportMappingToNearest(path) => {
                    self.import_label_map(&path, UnknownColour::MapToNearest);
                    Ok(())
                }
                Command::ChooseImportOptions => {
                    self.ask_for_path(FilePurpose::PublishedOptions, "opt.txt");
                    Ok(())
                }
                Command::StartCheckpointImport(form) => {
                    self.start_bundle_import(form, ctx);
                    Ok(())
                }
            };
            if let Err(e) = result {
                self.message = Some(format!("Error: {e}"));
            }
        }
    }
}

fn new_canvas(
    ui: &mut egui::Ui,
    mut width: u32,
    mut height: u32,
    commands: &mut Vec<Command>,
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
            commands.push(Command::NewCanvas { width, height });
            keep = None;
        }
        if ui.button("Cancel").clicked() {
            keep = None;
        }
    });
    keep
}

fn restore(ui: &mut egui::Ui, paths: Vec<PathBuf>, commands: &mut Vec<Command>) -> Option<Modal> {
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
            commands.push(Command::RestoreAutosave {
                path: path.clone(),
                more: rest.len(),
            });
            keep = None;
        }
        if ui
            .button("Discard")
            .on_hover_text("Delete this autosave")
            .clicked()
        {
            commands.push(Command::DiscardAutosave(path.clone()));
            keep = (!rest.is_empty()).then_some(Modal::Restore {
                paths: rest.clone(),
            });
        }
        if ui
            .button("Later")
            .on_hover_text("Keep every autosave and ask at the next start")
            .clicked()
        {
            keep = None;
        }
    });
    keep
}

fn unsaved_changes(ui: &mut egui::Ui, then: Action, commands: &mut Vec<Command>) -> Option<Modal> {
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
            commands.push(Command::SaveThen(then));
        }
        if ui
            .button("Discard changes")
            .on_hover_text("Drop the unsaved changes (the autosave is removed too)")
            .clicked()
        {
            next = None;
            commands.push(Command::DiscardThen(then));
        }
        if ui.button("Cancel").clicked() {
            next = None;
        }
    });
    next
}

fn import_failed(
    ui: &mut egui::Ui,
    path: PathBuf,
    message: String,
    unknown_colours: bool,
    commands: &mut Vec<Command>,
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
            commands.push(Command::ImportMappingToNearest(path.clone()));
        }
        if ui.button("Cancel").clicked() {
            keep = None;
        }
    });
    keep
}
