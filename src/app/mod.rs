//! The painter application (eframe/egui): toolbar on top, the side panel (model and palette)
//! on the right, the canvas and the preview sharing the work area (`workspace`), the training
//! panel docked on the left, status bar at the bottom. One file per panel; this one wires them
//! together and owns the document and autosave; the file actions are in `file_actions`, the
//! live-translation engine (no egui in it) in the crate's `live` beside `infer`.
pub mod autosave;
pub mod bundle_loader;
pub mod canvas;
pub mod dialogs;
pub mod file_actions;
pub mod files;
pub mod frame_stats;
pub mod import_dialog;
pub mod job;
mod live_ui;
pub mod loss_plot;
pub mod modal;
mod model_picker;
pub mod models;
pub mod palette_panel;
pub mod preview;
pub mod settings;
pub mod shortcuts;
pub mod style_controls;
pub mod system_dialogs;
pub mod toolbar;
pub mod training_form;
pub mod training_panel;
pub mod training_progress;
pub mod training_run;
pub mod window_error;
pub mod workspace;

use crate::labelmap;
use crate::labels::{ClassMapping, Palette};
use crate::live::LiveTranslation;
use crate::paint::project::Project;
use crate::paint::{Document, Tool};
use crate::{shipped, Result};
use autosave::Autosave;
use canvas::CanvasView;
use files::{FileDialogs, FilePurpose};
use modal::Modal;
use models::{ModelLoader, ModelPicker};
use palette_panel::PalettePanel;
use preview::PreviewPanel;
use std::path::PathBuf;
use std::sync::Arc;

/// The side panel (model and palette) starts this wide, in points.
const SIDE_PANEL_WIDTH: f32 = 290.0;

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
    pub example_scene: Option<labelmap::LabelMap>,
    /// A model bundle loaded at start, so the preview shows a result at once.
    pub default_model: Option<PathBuf>,
    /// A dataset folder the training panel opens with (inspected at start).
    pub training_dataset: Option<PathBuf>,
    /// A line for the status bar at start: a shipped file that was not found, and where to
    /// put it.
    pub startup_message: Option<String>,
}

impl AppOptions {
    /// What `scenepaint` opens with: the example ycor scene painted, the default model loading,
    /// bundles from `weights/`.
    pub fn with_shipped_content() -> Self {
        let mut problems = Vec::new();
        let example_scene = Palette::builtin("ycor")
            .and_then(|palette| shipped::example_scene(&palette))
            .map_err(|e| problems.push(format!("the example scene is not opened: {e}")))
            .ok();
        let default_model = shipped::find(shipped::DEFAULT_MODEL);
        if default_model.is_none() {
            problems.push(shipped::not_found_line(
                shipped::DEFAULT_MODEL,
                "the default model",
            ));
        }
        // Both, when both fail: one must not hide the other.
        let startup_message =
            (!problems.is_empty()).then(|| format!("Error: {}", problems.join("; ")));
        AppOptions {
            palette: "ycor".to_string(),
            example_scene,
            default_model,
            model_folders: shipped::find_all(shipped::MODELS_DIR),
            startup_message,
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
            dialogs: Box::new(system_dialogs::SystemDialogs::default()),
            model_loader: Some(bundle_loader::BundleLoader::shared()),
            model_folders: vec![PathBuf::from("weights")],
            example_scene: None,
            default_model: None,
            training_dataset: None,
            startup_message: None,
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
    /// A published checkpoint being turned into a bundle (the import dialog waits on it).
    checkpoint_import: Option<job::Job<PathBuf>>,
    frame_stats: frame_stats::FrameStats,
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
    .map_err(|e| crate::Error::msg(window_error::window_error_message(&e)))
}

impl PainterApp {
    pub fn new(options: AppOptions) -> Self {
        // Every problem at start reaches the status bar: one must not hide another.
        let mut problems: Vec<String> = options.startup_message.into_iter().collect();
        let palette = Palette::builtin(&options.palette).unwrap_or_else(|e| {
            problems.push(e.to_string());
            Palette::builtin("landscape").unwrap_or_else(|_| fallback_palette())
        });
        let blank = Document::new(options.width, options.height, palette.background)
            .unwrap_or_else(|e| {
                problems.push(e.to_string());
                Document::from_map(labelmap::LabelMap::new(512, 512, palette.background))
            });
        let doc = match options.example_scene {
            Some(map) => Document::from_map(map),
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
                    problems.push(format!("autosave disabled: {e}"));
                    None
                }
            });
        let message = (!problems.is_empty()).then(|| problems.join("; "));
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
            checkpoint_import: None,
            frame_stats: frame_stats::FrameStats::default(),
        }
    }

    /// The whole UI for one frame (eframe calls it through [`eframe::App::ui`]).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        ui.ctx().options_mut(|o| o.zoom_with_keyboard = false);
        self.handle_close_request(ui.ctx());
        self.poll_dialogs(Some(ui.ctx()));
        self.poll_checkpoint_import(ui.ctx());
        if let Some(dir) = self.pending_model.take() {
            self.load_model(dir, ui.ctx());
        }
        // A finished image is shown this frame; the newest map is submitted after painting.
        if let Some(live) = &mut self.live {
            live.collect();
        }
        if self.modal.is_none() && !self.dialogs.is_open() {
            for command in shortcuts::handle(ui.ctx(), &self.palette) {
                self.run_shortcut(command);
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
        self.show_training(ui);
        egui::Panel::right("side")
            .default_size(SIDE_PANEL_WIDTH)
            .resizable(true)
            .show(ui, |ui| {
                egui::CollapsingHeader::new(egui::RichText::new("Model and style").heading())
                    .default_open(true)
                    .show(ui, |ui| self.model_section(ui));
                ui.separator();
                let events = self.palette_panel.show(ui, &self.palette, self.active);
                if let Some(id) = events.picked {
                    self.active = id;
                }
                if let Some(name) = events.switch_to {
                    self.switch_palette(Palette::builtin(&name));
                }
                if events.load_file {
                    self.ask_for_path(FilePurpose::LoadPalette, "palette.json");
                }
            });
        egui::CentralPanel::no_frame().show(ui, |ui| self.workspace(ui));
        // A file dialog asked from a modal (the import's options) shows over it.
        if !self.dialogs.is_open() {
            if let Some(modal) = self.modal.take() {
                let importing = self.checkpoint_import.is_some();
                let (next, commands) = dialogs::show(ui.ctx(), modal, importing);
                self.modal = next;
                self.run_dialog_commands(commands, ui.ctx());
            }
        }
        self.tick_autosave(ui.ctx());
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
                    let key = palette_panel::shortcut_key(&self.palette, id)
                        .map_or_else(String::new, |key| format!(", key {key}"));
                    ui.label(format!("{name} (class id {id}{key})"));
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
                // A long message is cut at the window's edge (egui shows all of it on hover).
                ui.add(egui::Label::new(message.as_str()).truncate());
            }
        });
    }

    pub(super) fn switch_palette(&mut self, palette: Result<Palette>) {
        match palette {
            Ok(palette) => {
                let mut text = self.convert_to_palette(palette);
                if let Some(live) = &self.live {
                    if !live.info.palette.same_classes(&self.palette) {
                        text.push_str(&format!(
                            "; the model '{}' paints palette '{}': its preview waits",
                            live.info.name, live.info.palette.name
                        ));
                    }
                }
                self.message = Some(text);
            }
            Err(e) => self.message = Some(format!("Error: {e}")),
        }
    }

    /// Makes `palette` the painting's, converting the painting and its undo history by class
    /// name (never reinterpreting raw ids); says what happened, naming the painted classes the
    /// new palette lacks (they became its background).
    pub(super) fn convert_to_palette(&mut self, palette: Palette) -> String {
        let mapping = ClassMapping::by_name(&self.palette, &palette);
        let painted: Vec<u16> = self.doc.map().histogram().keys().copied().collect();
        let missing = mapping.missing(&self.palette, painted);
        let was_clean = !self.has_unsaved_work();
        self.doc.remap_ids(|id| mapping.map(id));
        // The file still holds the painting in its old palette: nothing new to keep.
        if was_clean {
            self.mark_clean();
        }
        let active = self.palette.class(self.active).map(|c| c.name.clone());
        self.palette = palette;
        self.active = active
            .and_then(|name| self.palette.id_for_name(&name))
            .unwrap_or_else(|| first_painting_class(&self.palette));
        let mut text = format!("palette switched to '{}'", self.palette.name);
        if !missing.is_empty() {
            text.push_str(&format!(
                "; classes with no counterpart (painted as background): {}",
                missing.join(", ")
            ));
        }
        text
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
        let started = std::time::Instant::now();
        self.show(ui);
        let training = self.training.is_training();
        self.frame_stats.record(started.elapsed(), training);
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
