//! The painter's modal questions, as data: which one is open, what it holds, and what its
//! buttons ask for. `dialogs` draws them; the file actions and the checkpoint import open them.
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    NewCanvas {
        width: u32,
        height: u32,
    },
    /// Autosaves earlier sessions left unsaved, newest first; the first is shown.
    Restore {
        paths: Vec<PathBuf>,
    },
    ImportFailed {
        path: PathBuf,
        message: String,
        unknown_colours: bool,
    },
    /// "Import .pth…": a published checkpoint and the fields that turn it into a bundle.
    ImportCheckpoint(ImportForm),
    /// `then` (new, open, import, quit) would drop unsaved work: save, discard or cancel.
    UnsavedChanges {
        then: super::toolbar::Action,
    },
}

/// The dialog's fields, pre-filled from what lies beside the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportForm {
    pub checkpoint: PathBuf,
    pub options: Option<PathBuf>,
    pub net: Option<crate::nets::bundle::NetKind>,
    pub palette: String,
    pub out: String,
    pub error: Option<String>,
}

/// What a dialog's button asks the painter to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    NewCanvas {
        width: u32,
        height: u32,
    },
    /// Restore this autosave; `more` others stay for the next start.
    RestoreAutosave {
        path: PathBuf,
        more: usize,
    },
    DiscardAutosave(PathBuf),
    /// Save the painting, then run the action the question was about.
    SaveThen(super::toolbar::Action),
    /// Drop the unsaved work and run the action.
    DiscardThen(super::toolbar::Action),
    /// Import the label map again, unknown colours mapped to the nearest class.
    ImportMappingToNearest(PathBuf),
    /// Ask for the published option file of the checkpoint being imported.
    ChooseImportOptions,
    /// Write the bundle the import form describes, on a worker thread.
    StartCheckpointImport(ImportForm),
}
