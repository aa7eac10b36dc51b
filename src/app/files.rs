//! File dialogs behind a trait: the app asks for a path and carries on drawing; the real
//! program answers through `system_dialogs` (rfd, or the in-app browser where no native
//! dialog can be shown), tests hand over prepared paths and never open a window.
use std::collections::VecDeque;
use std::path::PathBuf;

/// What a file dialog is for; decides title, filters and open-vs-save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilePurpose {
    OpenProject,
    SaveProject,
    ImportLabelMap,
    ExportColourPng,
    ExportIndexPng,
    LoadPalette,
    /// The generated image (PNG or JPEG by extension).
    ExportImage,
    /// Label map and generated image side by side.
    ExportSideBySide,
    /// A photo whose style a VAE model copies.
    StylePhoto,
    /// A folder searched for model bundles.
    ModelFolder,
    /// A published generator checkpoint (.pth / .safetensors) to import as a bundle.
    ImportCheckpoint,
    /// The published options (`opt.txt` or JSON) of a checkpoint being imported.
    PublishedOptions,
    /// The model bundle a training run starts from.
    StartFrom,
    /// A training dataset folder.
    Dataset,
}

impl FilePurpose {
    pub fn title(self) -> &'static str {
        match self {
            FilePurpose::OpenProject => "Open project",
            FilePurpose::SaveProject => "Save project",
            FilePurpose::ImportLabelMap => "Import label map",
            FilePurpose::ExportColourPng => "Export colour PNG",
            FilePurpose::ExportIndexPng => "Export index PNG",
            FilePurpose::LoadPalette => "Load palette",
            FilePurpose::ExportImage => "Save generated image",
            FilePurpose::ExportSideBySide => "Save label map and image side by side",
            FilePurpose::StylePhoto => "Style from photo",
            FilePurpose::ModelFolder => "Add model folder",
            FilePurpose::ImportCheckpoint => "Import published checkpoint",
            FilePurpose::PublishedOptions => "Options of the checkpoint (opt.txt)",
            FilePurpose::Dataset => "Choose dataset folder",
            FilePurpose::StartFrom => "Choose a model to start training from",
        }
    }

    pub fn is_save(self) -> bool {
        matches!(
            self,
            FilePurpose::SaveProject
                | FilePurpose::ExportColourPng
                | FilePurpose::ExportIndexPng
                | FilePurpose::ExportImage
                | FilePurpose::ExportSideBySide
        )
    }

    pub fn is_folder(self) -> bool {
        matches!(
            self,
            FilePurpose::ModelFolder | FilePurpose::Dataset | FilePurpose::StartFrom
        )
    }

    /// (filter name, extensions)
    pub fn filter(self) -> (&'static str, &'static [&'static str]) {
        match self {
            FilePurpose::OpenProject | FilePurpose::SaveProject => (
                "scenepaint project",
                &[crate::paint::project::PROJECT_EXTENSION],
            ),
            FilePurpose::ImportLabelMap
            | FilePurpose::ExportColourPng
            | FilePurpose::ExportIndexPng => ("PNG image", &["png"]),
            FilePurpose::LoadPalette => ("palette JSON", &["json"]),
            FilePurpose::ExportImage | FilePurpose::ExportSideBySide => {
                ("image", &["png", "jpg", "jpeg"])
            }
            FilePurpose::StylePhoto => ("image", &crate::image_formats::READABLE_EXTENSIONS),
            FilePurpose::ModelFolder | FilePurpose::Dataset | FilePurpose::StartFrom => {
                ("folder", &[])
            }
            FilePurpose::ImportCheckpoint => ("checkpoint", &["pth", "safetensors"]),
            FilePurpose::PublishedOptions => ("options", &["txt", "json"]),
        }
    }
}

/// One question for a path: what it is for, the name a save suggests, the folders worth
/// starting from, and the action that waits for a save (the unsaved-work question's "Save").
#[derive(Debug, Clone, PartialEq)]
pub struct PickRequest {
    pub purpose: FilePurpose,
    pub suggested_name: String,
    /// Folders the user worked in lately, most recent first; the first is where a dialog opens.
    pub places: Vec<PathBuf>,
    /// Runs after a successful save (only for [`FilePurpose::SaveProject`]).
    pub then: Option<super::toolbar::Action>,
}

impl PickRequest {
    pub fn new(purpose: FilePurpose, suggested_name: &str) -> Self {
        PickRequest {
            purpose,
            suggested_name: suggested_name.to_string(),
            places: Vec::new(),
            then: None,
        }
    }
}

/// The answer to a [`PickRequest`]; `path` is `None` when the user cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct PickAnswer {
    pub request: PickRequest,
    pub path: Option<PathBuf>,
}

/// File dialogs that never block a frame: a request starts one, later frames poll for the
/// answer (a native dialog runs on its own thread; an in-app one draws during `poll`).
pub trait FileDialogs {
    /// Starts a question. False when a dialog is already open (the new request is dropped).
    fn request(&mut self, request: PickRequest) -> bool;
    /// Draws an open in-app dialog (when given a context) and hands over an answer once.
    fn poll(&mut self, ctx: Option<&egui::Context>) -> Option<PickAnswer>;
    /// Something the user should read in the status bar (a dialog that could not be shown).
    fn take_notice(&mut self) -> Option<String> {
        None
    }
    /// True while a question waits for its answer.
    fn is_open(&self) -> bool;
}

/// Test double: answers requests from a queue and remembers what was asked.
#[derive(Debug, Default)]
pub struct ScriptedDialogs {
    pub answers: VecDeque<Option<PathBuf>>,
    pub asked: Vec<FilePurpose>,
    open: Option<PickRequest>,
}

impl ScriptedDialogs {
    pub fn new(answers: impl IntoIterator<Item = PathBuf>) -> Self {
        ScriptedDialogs {
            answers: answers.into_iter().map(Some).collect(),
            ..ScriptedDialogs::default()
        }
    }
}

impl FileDialogs for ScriptedDialogs {
    fn request(&mut self, request: PickRequest) -> bool {
        if self.open.is_some() {
            return false;
        }
        self.asked.push(request.purpose);
        self.open = Some(request);
        true
    }

    fn poll(&mut self, _ctx: Option<&egui::Context>) -> Option<PickAnswer> {
        let request = self.open.take()?;
        Some(PickAnswer {
            request,
            path: self.answers.pop_front().flatten(),
        })
    }

    fn is_open(&self) -> bool {
        self.open.is_some()
    }
}
