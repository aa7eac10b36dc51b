//! "Import .pth…": a generator checkpoint saved by a published repo (SPADE, pix2pixHD,
//! pix2pix) becomes a model bundle with its options (`opt.txt` beside it, or chosen), the
//! network they name and the dataset's palette, then loads as the live model. The same library
//! call as `scenepaint bundle` (`nets::published`).
use super::files::FilePurpose;
use super::job::Job;
use super::modal::{Command, ImportForm, Modal};
use super::PainterApp;
use crate::labels::Palette;
use crate::nets::bundle::{NetKind, PaletteRef};
use crate::nets::published;
use crate::Result;
use std::path::{Path, PathBuf};

const NETS: [NetKind; 4] = [
    NetKind::Spade,
    NetKind::Pix2pixhdGlobal,
    NetKind::Pix2pixhdLocal,
    NetKind::Pix2pixUnet,
];

impl ImportForm {
    /// Fills the form for `checkpoint`: its option file, the network and palette it names
    /// (else `fallback_palette`), and `<checkpoint folder>-bundle` beside that folder.
    pub fn for_checkpoint(checkpoint: PathBuf, fallback_palette: &str) -> Self {
        let mut form = Self {
            out: default_out(&checkpoint).display().to_string(),
            checkpoint,
            options: None,
            net: None,
            palette: fallback_palette.to_string(),
            error: None,
        };
        if let Some(path) = published::options_beside(&form.checkpoint) {
            form.set_options(path);
        }
        form
    }

    /// Uses the option file at `path`, taking the network and palette it names.
    pub fn set_options(&mut self, path: PathBuf) {
        match published::read_options(&path) {
            Ok(options) => {
                self.net = published::net_from_options(&options).or(self.net);
                if let Some(palette) = published::palette_from_options(&options) {
                    self.palette = palette.to_string();
                }
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
        self.options = Some(path);
    }

    /// Writes the bundle; returns its folder.
    pub fn import(&self) -> Result<PathBuf> {
        let options_path = self.options.as_ref().ok_or_else(|| {
            crate::Error::msg(format!(
                "no option file beside {} ({}): choose one",
                self.checkpoint.display(),
                published::OPTION_FILE_NAMES.join(", ")
            ))
        })?;
        let net = self
            .net
            .ok_or_else(|| crate::Error::msg("choose the network the checkpoint belongs to"))?;
        Palette::builtin(&self.palette)?;
        let palette = PaletteRef {
            name: self.palette.clone(),
            inline: None,
        };
        let options = published::read_options(options_path)?;
        let out = PathBuf::from(self.out.trim());
        let encoder = published::encoder_beside(&self.checkpoint);
        published::bundle_checkpoint(
            &self.checkpoint,
            encoder.as_deref(),
            net,
            &options,
            palette,
            &out,
        )?;
        Ok(out)
    }
}

fn default_out(checkpoint: &Path) -> PathBuf {
    let folder = checkpoint.parent().unwrap_or(Path::new("."));
    match (folder.parent(), folder.file_name()) {
        (Some(parent), Some(name)) => parent.join(format!("{}-bundle", name.to_string_lossy())),
        _ => checkpoint.with_extension("bundle"),
    }
}

impl PainterApp {
    /// Asks for a checkpoint; [`Self::open_checkpoint_import`] gets the answer.
    pub fn start_checkpoint_import(&mut self) {
        self.ask_for_path(FilePurpose::ImportCheckpoint, "");
    }

    /// Opens the import dialog for the checkpoint at `path`.
    pub(super) fn open_checkpoint_import(&mut self, path: PathBuf) {
        let form = ImportForm::for_checkpoint(path, &self.palette.name);
        self.modal = Some(Modal::ImportCheckpoint(form));
    }
}

/// The import dialog; returns the form while it stays open. `importing`: a job is writing
/// the bundle. Buttons come back as commands ([`Command::ChooseImportOptions`],
/// [`Command::StartCheckpointImport`]).
pub fn show(
    ui: &mut egui::Ui,
    mut form: ImportForm,
    importing: bool,
    commands: &mut Vec<Command>,
) -> Option<Modal> {
    ui.heading("Import published checkpoint");
    ui.monospace(form.checkpoint.display().to_string());
    ui.horizontal(|ui| {
        let options = form
            .options
            .as_ref()
            .map_or_else(|| "(none found)".to_string(), |p| p.display().to_string());
        ui.label(format!("Options: {options}"));
        if ui.button("Choose…").clicked() {
            commands.push(Command::ChooseImportOptions);
        }
    });
    fields(ui, &mut form);
    if let Some(error) = &form.error {
        ui.colored_label(ui.visuals().error_fg_color, format!("Error: {error}"));
    }
    let mut keep = true;
    ui.horizontal(|ui| {
        if importing {
            ui.spinner();
            ui.label("Importing… (reading the checkpoint and writing the bundle)");
            return;
        }
        if ui.button("Import").clicked() {
            form.error = None;
            commands.push(Command::StartCheckpointImport(form.clone()));
        }
        if ui.button("Cancel").clicked() {
            keep = false;
        }
    });
    keep.then_some(Modal::ImportCheckpoint(form))
}

fn fields(ui: &mut egui::Ui, form: &mut ImportForm) {
    egui::Grid::new("import-fields").show(ui, |ui| {
        ui.label("Network");
        let selected = form
            .net
            .map_or("(choose)".to_string(), |n| format!("{n:?}"));
        egui::ComboBox::from_id_salt("import-net")
            .selected_text(selected)
            .show_ui(ui, |ui| {
                for net in NETS {
                    ui.selectable_value(&mut form.net, Some(net), format!("{net:?}"));
                }
            });
        ui.end_row();
        ui.label("Palette");
        egui::ComboBox::from_id_salt("import-palette")
            .selected_text(form.palette.clone())
            .show_ui(ui, |ui| {
                for name in Palette::builtin_names() {
                    ui.selectable_value(&mut form.palette, name.to_string(), name);
                }
            });
        ui.end_row();
        ui.label("Bundle folder");
        ui.text_edit_singleline(&mut form.out);
        ui.end_row();
    });
}

impl PainterApp {
    /// Starts writing the bundle `form` describes on a worker thread.
    pub(super) fn start_bundle_import(&mut self, form: ImportForm, ctx: &egui::Context) {
        let ctx = ctx.clone();
        let task = form.clone();
        match Job::spawn(
            "import-checkpoint",
            move || task.import(),
            move || ctx.request_repaint(),
        ) {
            Ok(job) => self.checkpoint_import = Some(job),
            Err(e) => self.set_import_error(e.to_string()),
        }
    }

    /// Takes the option file the user chose into the open import form.
    pub(super) fn use_import_options(&mut self, path: PathBuf) {
        if let Some(Modal::ImportCheckpoint(form)) = &mut self.modal {
            form.set_options(path);
        }
    }

    /// Collects a finished import: the new bundle loads and the dialog closes, or the dialog
    /// shows why it failed.
    pub(super) fn poll_checkpoint_import(&mut self, ctx: &egui::Context) {
        let Some(result) = self.checkpoint_import.as_mut().and_then(|job| job.poll()) else {
            return;
        };
        self.checkpoint_import = None;
        match result {
            Ok(out) => {
                if matches!(self.modal, Some(Modal::ImportCheckpoint(_))) {
                    self.modal = None;
                }
                self.use_imported_bundle(out, ctx);
            }
            Err(e) => self.set_import_error(e.to_string()),
        }
    }

    fn set_import_error(&mut self, error: String) {
        match &mut self.modal {
            Some(Modal::ImportCheckpoint(form)) => form.error = Some(error),
            _ => self.message = Some(format!("Error: {error}")),
        }
    }

    /// Lists the new bundle in the picker and loads it.
    fn use_imported_bundle(&mut self, out: PathBuf, ctx: &egui::Context) {
        if let Some(parent) = out.parent() {
            self.models.add_folder(parent.to_path_buf());
        }
        self.models.selected = Some(out.clone());
        self.message = Some(format!("imported {}", out.display()));
        self.load_model(out, ctx);
    }
}
