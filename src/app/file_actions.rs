//! The painter's document actions (issue 17's "nothing is lost"): toolbar, menu and shortcut
//! commands, the unsaved-work question before a painting is replaced or the window closes,
//! opening, importing and saving projects and label maps, and restoring an autosave.
use super::files::{FilePurpose, PickAnswer, PickRequest};
use super::modal::Modal;
use super::toolbar::Action;
use super::{canvas, first_painting_class, settings, PainterApp};
use crate::labelmap::{self, UnknownColour};
use crate::labels::Palette;
use crate::paint::project::{Project, ViewSettings, PROJECT_EXTENSION};
use crate::paint::Document;
use crate::Result;
use std::path::{Path, PathBuf};

impl PainterApp {
    /// Asks for a path for `purpose`; the answer is handled by [`Self::poll_dialogs`].
    pub(crate) fn ask_for_path(&mut self, purpose: FilePurpose, suggested_name: &str) {
        self.ask(PickRequest::new(purpose, suggested_name));
    }

    fn ask(&mut self, mut request: PickRequest) {
        request.places = self.recent_places();
        if !self.dialogs.request(request) {
            self.message = Some("a file dialog is already open".to_string());
        }
        // Test dialogs answer at once; the real ones on a later frame.
        self.poll_dialogs(None);
    }

    /// The folders of the project and the recent files, newest first.
    fn recent_places(&self) -> Vec<PathBuf> {
        let files = self.project_path.iter().chain(&self.recent_files);
        let mut places: Vec<PathBuf> = Vec::new();
        for folder in files.filter_map(|f| f.parent()) {
            if !folder.as_os_str().is_empty() && !places.iter().any(|p| p == folder) {
                places.push(folder.to_path_buf());
            }
        }
        places
    }

    /// Draws an open in-app file dialog and acts on an answer that arrived.
    pub(super) fn poll_dialogs(&mut self, ctx: Option<&egui::Context>) {
        if let Some(notice) = self.dialogs.take_notice() {
            self.message = Some(notice);
        }
        if let Some(PickAnswer {
            request,
            path: Some(path),
        }) = self.dialogs.poll(ctx)
        {
            self.use_picked_path(request, path);
        }
    }

    /// What each kind of question does with its answer.
    fn use_picked_path(&mut self, request: PickRequest, path: PathBuf) {
        match request.purpose {
            FilePurpose::OpenProject => {
                let result = self.open_project(&path);
                self.report(
                    result.map(|()| format!("opened {} (undo starts afresh)", path.display())),
                );
            }
            FilePurpose::SaveProject => self.save_project_reporting(&path, request.then),
            FilePurpose::ImportLabelMap => self.import_label_map(&path, UnknownColour::Error),
            FilePurpose::ExportColourPng | FilePurpose::ExportIndexPng => {
                self.write_label_png(request.purpose, &path)
            }
            FilePurpose::LoadPalette => self.switch_palette(Palette::load(path)),
            FilePurpose::ExportImage | FilePurpose::ExportSideBySide => {
                let side_by_side = request.purpose == FilePurpose::ExportSideBySide;
                let result = self.write_generated(&path, side_by_side);
                self.report(result.map(|()| format!("exported {}", path.display())));
            }
            FilePurpose::StylePhoto => self.style_from_photo_at(&path),
            FilePurpose::ModelFolder => self.models.add_folder(path),
            FilePurpose::ImportCheckpoint => self.open_checkpoint_import(path),
            FilePurpose::PublishedOptions => self.use_import_options(path),
            FilePurpose::Dataset => self.training.set_dataset(path),
            FilePurpose::StartFrom => self.training.start_from = path.display().to_string(),
        }
    }

    /// Runs `action`; one that would replace or close a painting with unsaved work asks
    /// first (save / discard / cancel).
    pub fn perform(&mut self, action: Action) {
        let replaces_painting = matches!(
            action,
            Action::NewCanvas
                | Action::OpenProject
                | Action::OpenRecent(_)
                | Action::ImportLabelMap
                | Action::Quit
        );
        if replaces_painting && self.has_unsaved_work() {
            self.modal = Some(Modal::UnsavedChanges { then: action });
            return;
        }
        self.perform_now(action);
    }

    /// Runs `action` without asking about unsaved work.
    pub(crate) fn perform_now(&mut self, action: Action) {
        match action {
            Action::NewCanvas => {
                self.modal = Some(Modal::NewCanvas {
                    width: self.doc.width(),
                    height: self.doc.height(),
                })
            }
            Action::OpenProject => self.ask_for_path(FilePurpose::OpenProject, ""),
            Action::SaveProject => self.save_then(None),
            Action::SaveProjectAs => self.ask_to_save_project(None),
            Action::ImportLabelMap => self.ask_for_path(FilePurpose::ImportLabelMap, ""),
            Action::ExportColourPng | Action::ExportIndexPng => self.export(action),
            Action::Undo => {
                self.doc.undo();
            }
            Action::Redo => {
                self.doc.redo();
            }
            Action::ZoomIn => self.view.zoom_centre(1.25),
            Action::ZoomOut => self.view.zoom_centre(0.8),
            Action::ZoomFit => self.view.fit(self.doc.width(), self.doc.height()),
            Action::Zoom100 => self.view.zoom_centre(1.0 / self.view.zoom),
            Action::Quit => self.quit_requested = true,
            Action::OpenRecent(index) => self.open_recent(index),
        }
    }

    /// A recent file: a project opens, anything else imports as a label map.
    pub(super) fn open_recent(&mut self, index: usize) {
        let Some(path) = self.recent_files.get(index).cloned() else {
            return;
        };
        if path.extension().and_then(|e| e.to_str()) == Some(PROJECT_EXTENSION) {
            let result = self.open_project(&path);
            self.report(result.map(|()| format!("opened {} (undo starts afresh)", path.display())));
        } else {
            self.import_label_map(&path, UnknownColour::Error);
        }
    }

    /// Saves the project to its file, or asks for one; `then` runs once it is saved.
    pub(crate) fn save_then(&mut self, then: Option<Action>) {
        let Some(path) = self.project_path.clone() else {
            self.ask_to_save_project(then);
            return;
        };
        self.save_project_reporting(&path, then);
    }

    fn ask_to_save_project(&mut self, then: Option<Action>) {
        let mut request = PickRequest::new(
            FilePurpose::SaveProject,
            &format!("painting.{PROJECT_EXTENSION}"),
        );
        request.then = then;
        self.ask(request);
    }

    fn save_project_reporting(&mut self, path: &Path, then: Option<Action>) {
        let result = self.save_project(path);
        let saved = result.is_ok();
        self.report(result.map(|()| format!("saved {}", path.display())));
        if let (true, Some(action)) = (saved, then) {
            self.perform_now(action);
        }
    }

    /// The user chose to drop the painting's unsaved work: nothing to ask or keep about it.
    pub(crate) fn discard_unsaved_work(&mut self) {
        self.clean_generation = Some(self.doc.generation());
    }

    /// The window's close button: with unsaved work the close waits for the question's answer.
    pub(super) fn handle_close_request(&mut self, ctx: &egui::Context) {
        if self.quit_requested {
            self.quit_requested = false;
            self.closing = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.closing && self.has_unsaved_work()
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.modal = Some(Modal::UnsavedChanges { then: Action::Quit });
        }
    }

    pub(super) fn report(&mut self, result: Result<String>) {
        self.message = Some(match result {
            Ok(text) => text,
            Err(e) => format!("Error: {e}"),
        });
    }

    pub(super) fn export(&mut self, action: Action) {
        let (purpose, name) = if action == Action::ExportColourPng {
            (FilePurpose::ExportColourPng, "painting_colour.png")
        } else {
            (FilePurpose::ExportIndexPng, "painting_index.png")
        };
        self.ask_for_path(purpose, name);
    }

    fn write_label_png(&mut self, purpose: FilePurpose, path: &Path) {
        let result = if purpose == FilePurpose::ExportColourPng {
            labelmap::write_colour_png(path, self.doc.map(), &self.palette)
        } else {
            labelmap::write_index_png(path, self.doc.map())
        };
        self.report(result.map(|()| format!("exported {}", path.display())));
    }

    /// Replaces the document with a new blank canvas.
    pub fn new_canvas(&mut self, width: u32, height: u32) -> Result<()> {
        self.replace_document(Document::new(width, height, self.palette.background)?);
        self.project_path = None;
        Ok(())
    }

    pub(super) fn replace_document(&mut self, doc: Document) {
        self.doc.end_stroke();
        self.doc = doc;
        self.view.fit_requested = true;
        self.mark_clean();
    }

    /// The painting as it is now is what a file holds: nothing for autosave or a question.
    pub(super) fn mark_clean(&mut self) {
        if let Some(autosave) = &mut self.autosave {
            autosave.mark_saved(self.doc.generation());
        }
        self.clean_generation = Some(self.doc.generation());
    }

    /// True when the painting has changes no file holds (what a clean exit keeps autosaved).
    pub fn has_unsaved_work(&self) -> bool {
        self.clean_generation != Some(self.doc.generation())
    }

    /// Imports a label map PNG with the current palette. Unknown colours open a dialog that
    /// offers "map to nearest class"; other errors go to the status bar.
    pub fn import_label_map(&mut self, path: &Path, unknown: UnknownColour) {
        match labelmap::read_label_map_with(path, &self.palette, unknown) {
            Ok((map, kind)) => {
                // Same size: one undo step, so Undo brings the painting before back.
                let undoable = self.doc.replace_map(map);
                self.view.fit_requested |= !undoable;
                self.mark_clean();
                self.project_path = None;
                settings::remember(&mut self.recent_files, path);
                let undo = if undoable {
                    "Undo brings back the painting before"
                } else {
                    "another size: the undo history starts afresh"
                };
                self.message = Some(format!(
                    "imported {} ({kind:?} PNG; {undo})",
                    path.display()
                ));
            }
            Err(e) => {
                let unknown_colours = matches!(
                    e,
                    crate::Error::LabelMap(labelmap::LabelMapError::UnknownColours { .. })
                );
                self.modal = Some(Modal::ImportFailed {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                    unknown_colours,
                });
            }
        }
    }

    pub fn view_settings(&self) -> ViewSettings {
        ViewSettings {
            zoom: self.view.zoom,
            offset: [self.view.offset.x, self.view.offset.y],
            tool: self.tool,
            brush_px: self.brush_px,
            active_class: Some(self.active),
        }
    }

    pub fn project(&self) -> Project {
        Project::new(self.doc.map(), &self.palette, self.view_settings())
    }

    pub fn save_project(&mut self, path: &Path) -> Result<()> {
        self.project().save(path)?;
        settings::remember(&mut self.recent_files, path);
        self.project_path = Some(path.to_path_buf());
        self.clean_generation = Some(self.doc.generation());
        Ok(())
    }

    pub fn open_project(&mut self, path: &Path) -> Result<()> {
        let project = Project::load(path)?;
        self.load_project(project);
        settings::remember(&mut self.recent_files, path);
        self.project_path = Some(path.to_path_buf());
        Ok(())
    }

    pub(super) fn load_project(&mut self, project: Project) {
        let Ok(map) = project.label_map() else {
            return;
        };
        self.palette = project.palette;
        self.replace_document(Document::from_map(map));
        let view = project.view;
        self.view.zoom = view.zoom.clamp(canvas::MIN_ZOOM, canvas::MAX_ZOOM);
        self.view.offset = egui::vec2(view.offset[0], view.offset[1]);
        self.view.fit_requested = false;
        self.view.user_placed = true;
        self.tool = view.tool;
        self.brush_px = view
            .brush_px
            .clamp(crate::paint::MIN_BRUSH_PX, crate::paint::MAX_BRUSH_PX);
        self.active = view
            .active_class
            .filter(|id| self.palette.contains(*id))
            .unwrap_or_else(|| first_painting_class(&self.palette));
    }

    /// Restores an autosaved painting an earlier session left; its file moves into this
    /// session's autosave, so it stays kept until saved over.
    pub fn restore_autosave(&mut self, path: &Path) -> Result<()> {
        let project = Project::load(path)?;
        self.load_project(project);
        self.clean_generation = None;
        self.project_path = None;
        if let Some(autosave) = &mut self.autosave {
            autosave.adopt(path)?;
        }
        self.message = Some("restored the autosaved painting (undo starts afresh)".to_string());
        Ok(())
    }
}
