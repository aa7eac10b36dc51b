//! The painter application (eframe/egui): toolbar on top, palette on the right, the preview
//! beside the canvas, status bar at the bottom. One file per panel; this one wires them together
//! and owns the document, the file actions and autosave.
pub mod autosave;
pub mod bundle_loader;
pub mod canvas;
pub mod dialogs;
pub mod files;
pub mod import_dialog;
pub mod live;
mod live_ui;
pub mod loss_plot;
pub mod models;
pub mod palette_panel;
pub mod preview;
pub mod settings;
pub mod shortcuts;
pub mod toolbar;
pub mod training_panel;
pub mod training_run;

use crate::labelmap::{self, UnknownColour};
use crate::labels::Palette;
use crate::paint::project::{Project, ViewSettings, PROJECT_EXTENSION};
use crate::paint::{Document, Tool};
use crate::{shipped, Result};
use autosave::Autosave;
use canvas::{CanvasView, ToolState};
use dialogs::Modal;
use files::{FileDialogs, FilePurpose, RfdDialogs};
use live::LiveTranslation;
use models::{ModelLoader, ModelPicker};
use palette_panel::PalettePanel;
use preview::PreviewPanel;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toolbar::Action;

/// How the painter starts.
pub struct AppOptions {
    /// Built-in palette name.
    pub palette: String,
    pub width: u32,
    pub height: u32,
    /// Where autosaves go; None disables autosave (tests).
    pub autosave_dir: Option<PathBuf>,
    pub dialogs: Box<dyn FileDialogs>,
    /// Loads model bundles for the live preview; `None` leaves the preview without models.
    pub model_loader: Option<Arc<dyn ModelLoader>>,
    /// Folders searched for model bundles (the user can add more).
    pub model_folders: Vec<PathBuf>,
    /// A label map the painter opens with instead of a blank canvas (its size wins).
    pub example_scene: Option<PathBuf>,
    /// A model bundle loaded at start, so the preview shows a result at once.
    pub default_model: Option<PathBuf>,
    /// A dataset folder the training panel opens with (inspected at start).
    pub training_dataset: Option<PathBuf>,
}

impl AppOptions {
    /// What `scenepaint` opens with: the example ycor scene painted, the default model loading,
    /// bundles from `weights/`.
    pub fn with_shipped_content() -> Self {
        AppOptions {
            palette: "ycor".to_string(),
            example_scene: shipped::find(shipped::EXAMPLE_SCENE),
            default_model: Some(shipped::find_or_given(shipped::DEFAULT_MODEL)),
            model_folders: shipped::find_all(shipped::MODELS_DIR),
            ..AppOptions::default()
        }
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            palette: "landscape".to_string(),
            width: 512,
            height: 512,
            autosave_dir: autosave::default_dir(),
            dialogs: Box::new(RfdDialogs),
            model_loader: Some(bundle_loader::BundleLoader::shared()),
            model_folders: vec![PathBuf::from("weights")],
            example_scene: None,
            default_model: None,
            training_dataset: None,
        }
    }
}

pub struct PainterApp {
    pub doc: Document,
    pub palette: Palette,
    /// The class the brush, fill and shapes paint.
    pub active: u16,
    pub tool: Tool,
    pub brush_px: u32,
    pub view: CanvasView,
    pub preview: PreviewPanel,
    /// The live translation of the loaded model, if any.
    pub live: Option<LiveTranslation>,
    pub models: ModelPicker,
    pub training: training_panel::TrainingPanel,
    pub palette_panel: PalettePanel,
    pub dialogs: Box<dyn FileDialogs>,
    pub modal: Option<Modal>,
    /// Last message for the status bar (errors, "saved ...").
    pub message: Option<String>,
    pub project_path: Option<PathBuf>,
    autosave: Option<Autosave>,
    /// The document's generation when it last matched a file (opened, saved, imported) or
    /// was created blank; `None` for a painting restored from an autosave. Any other
    /// generation is work a clean exit must not drop.
    clean_generation: Option<u64>,
    /// Projects and label maps opened or saved, newest first (File > Open recent).
    pub recent_files: Vec<PathBuf>,
    /// Quit was chosen (and confirmed); the window closes this frame.
    quit_requested: bool,
    /// A close this program asked for: the close request it causes is not questioned again.
    closing: bool,
    hover_px: Option<[i64; 2]>,
    /// Loaded on the first frame (loading needs the egui context to notify).
    pending_model: Option<PathBuf>,
}

/// Opens the painter window and runs until it is closed.
pub fn run_painter(options: AppOptions) -> Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title("scenepaint"),
        ..Default::default()
    };
    eframe::run_native(
        "scenepaint",
        native,
        Box::new(|cc| {
            let stored = cc.storage.and_then(|s| s.get_string(settings::STORAGE_KEY));
            let mut app = PainterApp::new(options);
            app.apply_settings(settings::Settings::from_stored(stored.as_deref()));
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| crate::Error::msg(format!("cannot open the painter window: {e}")))
}

impl PainterApp {
    pub fn new(options: AppOptions) -> Self {
        let mut message = None;
        let palette = Palette::builtin(&options.palette).unwrap_or_else(|e| {
            message = Some(e.to_string());
            Palette::builtin("landscape").unwrap_or_else(|_| fallback_palette())
        });
        let blank = Document::new(options.width, options.height, palette.background)
            .unwrap_or_else(|e| {
                message = Some(e.to_string());
                Document::from_map(labelmap::LabelMap::new(512, 512, palette.background))
            });
        let doc = match &options.example_scene {
            Some(path) => match labelmap::read_label_map(path, &palette) {
                Ok(map) => Document::from_map(map),
                Err(e) => {
                    message = Some(format!("example scene not opened: {e}"));
                    blank
                }
            },
            None => blank,
        };
        let doc_generation = doc.generation();
        let mut modal = None;
        let autosave = options
            .autosave_dir
            .as_deref()
            .and_then(|dir| match Autosave::start(dir) {
                Ok((mut autosave, orphans)) => {
                    modal = (!orphans.is_empty()).then_some(Modal::Restore { paths: orphans });
                    autosave.mark_saved(doc_generation);
                    Some(autosave)
                }
                Err(e) => {
                    message = Some(format!("autosave disabled: {e}"));
                    None
                }
            });
        let active = first_painting_class(&palette);
        let mut training = training_panel::TrainingPanel::default();
        if let Some(dir) = options.training_dataset {
            training.set_dataset(dir);
            training.open = true;
        }
        PainterApp {
            doc,
            palette,
            active,
            tool: Tool::Brush,
            brush_px: 16,
            view: CanvasView::new(),
            preview: PreviewPanel::default(),
            live: None,
            models: ModelPicker::new(options.model_loader, options.model_folders),
            training,
            palette_panel: PalettePanel::default(),
            dialogs: options.dialogs,
            modal,
            message,
            project_path: None,
            clean_generation: Some(doc_generation),
            quit_requested: false,
            closing: false,
            recent_files: Vec::new(),
            autosave,
            hover_px: None,
            pending_model: options.default_model,
        }
    }

    /// The whole UI for one frame (eframe calls it through [`eframe::App::ui`]).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        ui.ctx().options_mut(|o| o.zoom_with_keyboard = false);
        self.handle_close_request(ui.ctx());
        if let Some(dir) = self.pending_model.take() {
            self.load_model(dir, ui.ctx());
        }
        // A finished image is shown this frame; the newest map is submitted after painting.
        if let Some(live) = &mut self.live {
            live.collect();
        }
        if self.modal.is_none() {
            for action in shortcuts::handle(self, ui.ctx()) {
                self.perform(action);
            }
        }
        egui::Panel::top("toolbar").show(ui, |ui| {
            let (can_undo, can_redo) = (
                self.doc.history().undo_len() > 0,
                self.doc.history().redo_len() > 0,
            );
            if let Some(action) = toolbar::show(
                ui,
                &mut self.tool,
                &mut self.brush_px,
                can_undo,
                can_redo,
                &self.recent_files,
            ) {
                self.perform(action);
            }
        });
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::right("palette")
            .default_size(230.0)
            .show(ui, |ui| {
                let events = self.palette_panel.show(ui, &self.palette, self.active);
                if let Some(id) = events.picked {
                    self.active = id;
                }
                if let Some(name) = events.switch_to {
                    self.switch_palette(Palette::builtin(&name));
                }
                if events.load_file {
                    if let Some(path) = self.dialogs.pick(FilePurpose::LoadPalette, "palette.json")
                    {
                        self.switch_palette(Palette::load(path));
                    }
                }
            });
        self.preview_side_panel(ui);
        egui::CentralPanel::no_frame().show(ui, |ui| {
            let tools = ToolState {
                tool: self.tool,
                brush_px: self.brush_px,
                active: self.active,
                background: self.palette.background,
            };
            let events = self.view.show(ui, &mut self.doc, &self.palette, tools);
            self.hover_px = events.hover_px;
            if let Some(id) = events.picked {
                self.active = id;
            }
        });
        if let Some(modal) = self.modal.take() {
            self.modal = dialogs::show(self, ui.ctx(), modal);
        }
        self.tick_autosave(ui.ctx());
        self.show_training(ui.ctx());
        self.tick_live(ui.ctx());
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            match self
                .hover_px
                .and_then(|[x, y]| Some((x, y, self.doc.id_at(x, y)?)))
            {
                Some((x, y, id)) => {
                    let name = self
                        .palette
                        .class(id)
                        .map_or("(not in palette)", |c| c.name.as_str());
                    ui.label(format!("x {x}, y {y}"));
                    ui.separator();
                    ui.label(format!("{name} (id {id})"));
                }
                None => {
                    ui.label("x –, y –");
                }
            }
            ui.separator();
            ui.label(format!("zoom {:.0}%", self.view.zoom * 100.0));
            ui.separator();
            ui.label(format!("{}x{}", self.doc.width(), self.doc.height()));
            ui.separator();
            ui.toggle_value(&mut self.training.open, "Training");
            if let Some(message) = &self.message {
                ui.separator();
                ui.label(message.as_str());
            }
        });
    }

    /// Runs a toolbar/menu/shortcut command.
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
    fn open_recent(&mut self, index: usize) {
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
    fn handle_close_request(&mut self, ctx: &egui::Context) {
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

    fn report(&mut self, result: Result<String>) {
        self.message = Some(match result {
            Ok(text) => text,
            Err(e) => format!("Error: {e}"),
        });
    }

    fn export(&mut self, action: Action) {
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

    fn replace_document(&mut self, doc: Document) {
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

    fn load_project(&mut self, project: Project) {
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

    fn switch_palette(&mut self, palette: Result<Palette>) {
        match palette {
            Ok(palette) => {
                let missing = self
                    .doc
                    .map()
                    .histogram()
                    .keys()
                    .filter(|id| !palette.contains(**id))
                    .count();
                self.message = (missing > 0).then(|| {
                    format!("{missing} class id(s) of the painting are not in palette '{}' (shown magenta)", palette.name)
                });
                self.palette = palette;
                if !self.palette.contains(self.active) {
                    self.active = first_painting_class(&self.palette);
                }
                self.doc.mark_all_dirty();
            }
            Err(e) => self.message = Some(format!("Error: {e}")),
        }
    }

    fn tick_autosave(&mut self, ctx: &egui::Context) {
        if self.doc.in_stroke() {
            return;
        }
        let view = self.view_settings();
        let Some(autosave) = &mut self.autosave else {
            return;
        };
        let now_s = ctx.input(|i| i.time);
        let (doc, palette) = (&self.doc, &self.palette);
        match autosave.tick(now_s, doc.generation(), || {
            Project::new(doc.map(), palette, view)
        }) {
            Ok(Some(due_s)) => ctx.request_repaint_after(std::time::Duration::from_secs_f64(due_s)),
            Ok(None) => {}
            Err(e) => self.message = Some(format!("autosave failed: {e}")),
        }
    }

    /// Clean shutdown: this session's autosave is removed, or kept to be offered at the next
    /// start when the painting has unsaved work.
    pub fn finish(&mut self) {
        let unsaved = self.has_unsaved_work();
        if let Some(autosave) = self.autosave.take() {
            autosave.finish(unsaved);
        }
    }

    /// Ends the autosave session as a crash would (lock released, every file kept): for tests
    /// that need an unclean exit inside one process.
    pub fn abandon_autosave(&mut self) {
        if let Some(autosave) = self.autosave.take() {
            autosave.abandon();
        }
    }
}

impl eframe::App for PainterApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        storage.set_string(settings::STORAGE_KEY, self.settings().to_stored());
    }
}

impl Drop for PainterApp {
    /// eframe drops the app when the window closes normally. A panic is not a clean exit, so
    /// every file stays and the autosave is offered at the next start.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.abandon_autosave();
        } else {
            self.finish();
        }
    }
}

/// The first class that is not the background (what a fresh canvas paints with).
pub(crate) fn first_painting_class(palette: &Palette) -> u16 {
    palette
        .classes
        .iter()
        .map(|c| c.id)
        .find(|&id| id != palette.background)
        .unwrap_or(palette.background)
}

/// Only used if the embedded palettes failed to parse, which the unit tests rule out.
fn fallback_palette() -> Palette {
    let class = crate::labels::ClassInfo {
        id: 0,
        name: "background".into(),
        rgb: [0, 0, 0],
        group: None,
    };
    Palette::new("fallback", vec![class], 0)
        .unwrap_or_else(|_| unreachable!("one class, valid background"))
}
