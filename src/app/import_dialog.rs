//! "Import .pth…": a generator checkpoint saved by a published repo (SPADE, pix2pixHD,
//! pix2pix) becomes a model bundle with its options (`opt.txt` beside it, or chosen), the
//! network they name and the dataset's palette, then loads as the live model. The same library
//! call as `scenepaint bundle` (`nets::published`).
use super::files::FilePurpose;
use super::job::Job;
use super::modal::{ImportForm, Modal};
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

/// The import dialog; returns the form while it stays open.
pub fn show(app: &mut PainterApp, ui: &mut egui::Ui, mut form: ImportForm) -> Option<Modal> {
    ui.heading("Import published checkpoint");
    ui.monospace(form.checkpoint.display().to_string());
    ui.horizontal(|ui| {
        let options = form
            .options
            .as_ref()
            .map_or_else(|| "(none found)".to_string(), |p| p.display().to_string());
        ui.label(format!("Options: {options}"));
        if ui.button("Choose…").clicked() {
            app.ask_for_path(FilePurpose::PublishedOptions, "opt.txt");
        }
        if let Some(path) = app.picked_options.take() {
            form.set_options(path);
        }
    });
    fields(ui, &mut form);
    if let Some(error) = &form.error {
        ui.colored_label(ui.visuals().error_fg_color, format!("Error: {error}"));
    }
    let mut keep = true;
    if let Some(result) = app.checkpoint_import.as_mut().and_then(|job| job.poll()) {
        app.checkpoint_import = None;
        match result {
            Ok(out) => {
                app.use_imported_bundle(out, ui.ctx());
                return None;
            }
            Err(e) => form.error = Some(e.to_string()),
        }
    }
    ui.horizontal(|ui| {
        if app.checkpoint_import.is_some() {
            ui.spinner();
            ui.label("Importing… (reading the checkpoint and writing the bundle)");
            return;
        }
        if ui.button("Import").clicked() {
            form.error = None;
            let (task, ctx) = (form.clone(), ui.ctx().clone());
            match Job::spawn(
                "import-checkpoint",
                move || task.import(),
                move || ctx.request_repaint(),
            ) {
                Ok(job) => app.checkpoint_import = Some(job),
                Err(e) => form.error = Some(e.to_string()),
            }
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
