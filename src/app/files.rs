//! File dialogs behind a trait: the app asks for a path, the real program shows an rfd dialog,
//! tests hand over prepared paths and never open a window.
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
        matches!(self, FilePurpose::ModelFolder | FilePurpose::Dataset)
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
            FilePurpose::ExportImage | FilePurpose::ExportSideBySide | FilePurpose::StylePhoto => {
                ("image", &["png", "jpg", "jpeg"])
            }
            FilePurpose::ModelFolder | FilePurpose::Dataset => ("folder", &[]),
            FilePurpose::ImportCheckpoint => ("checkpoint", &["pth", "safetensors"]),
            FilePurpose::PublishedOptions => ("options", &["txt", "json"]),
        }
    }
}

/// Picks a file path; `None` means the user cancelled.
pub trait FileDialogs {
    fn pick(&mut self, purpose: FilePurpose, suggested_name: &str) -> Option<PathBuf>;
}

/// Native dialogs through rfd (xdg portal on Linux; returns None at once without a portal).
#[derive(Debug, Default)]
pub struct RfdDialogs;

impl FileDialogs for RfdDialogs {
    fn pick(&mut self, purpose: FilePurpose, suggested_name: &str) -> Option<PathBuf> {
        let (name, extensions) = purpose.filter();
        let dialog = rfd::FileDialog::new()
            .set_title(purpose.title())
            .add_filter(name, extensions);
        if purpose.is_folder() {
            rfd::FileDialog::new()
                .set_title(purpose.title())
                .pick_folder()
        } else if purpose.is_save() {
            dialog.set_file_name(suggested_name).save_file()
        } else {
            dialog.pick_file()
        }
    }
}

/// Test double: answers requests from a queue and remembers what was asked.
#[derive(Debug, Default)]
pub struct ScriptedDialogs {
    pub answers: VecDeque<Option<PathBuf>>,
    pub asked: Vec<FilePurpose>,
}

impl ScriptedDialogs {
    pub fn new(answers: impl IntoIterator<Item = PathBuf>) -> Self {
        ScriptedDialogs {
            answers: answers.into_iter().map(Some).collect(),
            asked: Vec::new(),
        }
    }
}

impl FileDialogs for ScriptedDialogs {
    fn pick(&mut self, purpose: FilePurpose, _suggested_name: &str) -> Option<PathBuf> {
        self.asked.push(purpose);
        self.answers.pop_front().flatten()
    }
}
