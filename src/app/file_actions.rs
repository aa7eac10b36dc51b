//! The painter's document actions (issue 17's "nothing is lost"): toolbar, menu and shortcut
//! commands, the unsaved-work question before a painting is replaced or the window closes,
//! opening, importing and saving projects and label maps, and restoring an autosave.
use super::dialogs::Modal;
use super::files::FilePurpose;
use super::toolbar::Action;
use super::{canvas, first_painting_class, settings, PainterApp};
use crate::labelmap::{self, UnknownColour};
use crate::paint::project::{Project, ViewSettings, PROJECT_EXTENSION};
use crate::paint::Document;
use crate::Result;
use std::path::Path;

impl PainterApp {
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
            Action::OpenProject => {
                if let Some(path) = self.dialogs.pick(FilePurpose::OpenProject, "") {
                    let result = self.open_project(&path);
                    self.report(result.map(|()| format!("opened {}", path.display())));
                }
            }
            Action::SaveProject | Action::SaveProjectAs => {
                let path = match (&self.project_path, action) {
                    (Some(p), Action::SaveProject) => Some(p.clone()),
                    _ => self.dialogs.pick(
                        FilePurpose::SaveProject,
                        &format!("painting.{PROJECT_EXTENSION}"),
                    ),
                };
                if let Some(path) = path {
                    let result = self.save_project(&path);
                    self.report(result.map(|()| format!("saved {}", path.display())));
                }
            }
            Action::ImportLabelMap => {
                if let Some(path) = self.dialogs.pick(FilePurpose::ImportLabelMap, "") {
                    self.import_label_map(&path, UnknownColour::Error);
                }
            }
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
            self.report(result.map(|()| format!("opened {}", path.display())));
        } else {
            self.import_label_map(&path, UnknownColour::Error);
        }
    }

    /// Saves the project to its file, or asks for one; true when it was saved.
    pub(crate) fn save_or_ask(&mut self) -> bool {
        self.perform_now(Action::SaveProject);
        !self.has_unsaved_work()
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
        let Some(path) = self.dialogs.pick(purpose, name) else {
            return;
        };
        let result = if purpose == FilePurpose::ExportColourPng {
            labelmap::write_colour_png(&path, self.doc.map(), &self.palette)
        } else {
            labelmap::write_index_png(&path, self.doc.map())
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
                self.replace_document(Document::from_map(map));
                self.project_path = None;
                settings::remember(&mut self.recent_files, path);
                self.message = Some(format!("imported {} ({kind:?} PNG)", path.display()));
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
        self.message = Some("restored the autosaved painting".to_string());
        Ok(())
    }
}
