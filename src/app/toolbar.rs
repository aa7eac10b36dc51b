//! The toolbar: file menu, tool buttons, brush size, undo/redo and view buttons. It only reports
//! what was clicked; the app performs the action (the same code paths as the shortcuts).
use crate::paint::{Tool, MAX_BRUSH_PX, MIN_BRUSH_PX};

/// A user command, from the toolbar, the menu or a keyboard shortcut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    NewCanvas,
    OpenProject,
    SaveProject,
    SaveProjectAs,
    ImportLabelMap,
    ExportColourPng,
    ExportIndexPng,
    Undo,
    Redo,
    ZoomIn,
    ZoomOut,
    ZoomFit,
    /// Actual pixels (zoom 1).
    Zoom100,
    /// Close the window (asks first when the painting has unsaved work).
    Quit,
    /// Open the recent file at this index of the app's list (a project, or a label map).
    OpenRecent(usize),
}

/// Draws the toolbar; returns the action clicked, if any. Tool and brush size are edited in place.
pub fn show(
    ui: &mut egui::Ui,
    tool: &mut Tool,
    brush_px: &mut u32,
    can_undo: bool,
    can_redo: bool,
    recent_files: &[std::path::PathBuf],
) -> Option<Action> {
    let mut action = None;
    ui.horizontal_wrapped(|ui| {
        ui.menu_button("File", |ui| {
            let items = [
                ("New canvas…", Action::NewCanvas, "Ctrl+N"),
                ("Open project…", Action::OpenProject, "Ctrl+O"),
                ("Save project", Action::SaveProject, "Ctrl+S"),
                ("Save project as…", Action::SaveProjectAs, "Ctrl+Shift+S"),
                ("Import label map…", Action::ImportLabelMap, "Ctrl+I"),
                ("Export colour PNG…", Action::ExportColourPng, ""),
                ("Export index PNG…", Action::ExportIndexPng, ""),
                ("Quit", Action::Quit, "Ctrl+Q"),
            ];
            for (label, a, keys) in items {
                if ui
                    .add(egui::Button::new(label).shortcut_text(keys))
                    .clicked()
                {
                    action = Some(a);
                    ui.close();
                }
                if a == Action::OpenProject {
                    ui.add_enabled_ui(!recent_files.is_empty(), |ui| {
                        ui.menu_button("Open recent", |ui| {
                            for (i, path) in recent_files.iter().enumerate() {
                                let name = path.file_name().map_or_else(
                                    || path.display().to_string(),
                                    |n| n.to_string_lossy().into_owned(),
                                );
                                let item =
                                    ui.button(name).on_hover_text(path.display().to_string());
                                if item.clicked() {
                                    action = Some(Action::OpenRecent(i));
                                    ui.close();
                                }
                            }
                        });
                    });
                }
            }
        });
        ui.separator();
        for t in Tool::ALL {
            let hint = format!("{} ({})", t.label(), t.shortcut());
            if ui
                .selectable_label(*tool == t, t.label())
                .on_hover_text(hint)
                .clicked()
            {
                *tool = t;
            }
        }
        ui.separator();
        ui.label("Size");
        ui.add(
            egui::Slider::new(brush_px, MIN_BRUSH_PX..=MAX_BRUSH_PX)
                .logarithmic(true)
                .suffix(" px"),
        )
        .on_hover_text("Brush size ([ and ])");
        ui.separator();
        if ui
            .add_enabled(can_undo, egui::Button::new("Undo"))
            .on_hover_text("Ctrl+Z")
            .clicked()
        {
            action = Some(Action::Undo);
        }
        if ui
            .add_enabled(can_redo, egui::Button::new("Redo"))
            .on_hover_text("Ctrl+Shift+Z / Ctrl+Y")
            .clicked()
        {
            action = Some(Action::Redo);
        }
        ui.separator();
        for (label, a, hint) in [
            ("−", Action::ZoomOut, "Zoom out (Ctrl+-)"),
            ("+", Action::ZoomIn, "Zoom in (Ctrl++)"),
            ("Fit", Action::ZoomFit, "Fit to window (Ctrl+0)"),
            ("1:1", Action::Zoom100, "Actual pixels (Ctrl+1)"),
        ] {
            if ui.button(label).on_hover_text(hint).clicked() {
                action = Some(a);
            }
        }
    });
    action
}
