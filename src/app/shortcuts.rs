//! Keyboard shortcuts. Tool keys and number keys are ignored while a text field has focus, so
//! typing in the palette search box does not switch tools.
use super::toolbar::Action;
use super::PainterApp;
use crate::paint::{step_brush_size, Tool};
use egui::{Key, Modifiers};

const NUMBER_KEYS: [Key; 9] = [
    Key::Num1,
    Key::Num2,
    Key::Num3,
    Key::Num4,
    Key::Num5,
    Key::Num6,
    Key::Num7,
    Key::Num8,
    Key::Num9,
];

/// Applies direct edits (tool, size, class) and returns the commands to perform.
pub fn handle(app: &mut PainterApp, ctx: &egui::Context) -> Vec<Action> {
    let mut actions = Vec::new();
    let cmd = Modifiers::COMMAND;
    let cmd_shift = Modifiers::COMMAND | Modifiers::SHIFT;
    ctx.input_mut(|i| {
        // Most specific first: consume_key ignores extra Shift.
        let commands = [
            (cmd_shift, Key::Z, Action::Redo),
            (cmd, Key::Z, Action::Undo),
            (cmd, Key::Y, Action::Redo),
            (cmd_shift, Key::S, Action::SaveProjectAs),
            (cmd, Key::S, Action::SaveProject),
            (cmd, Key::O, Action::OpenProject),
            (cmd, Key::N, Action::NewCanvas),
            (cmd, Key::I, Action::ImportLabelMap),
            (cmd, Key::Q, Action::Quit),
            (cmd, Key::Plus, Action::ZoomIn),
            (cmd, Key::Equals, Action::ZoomIn),
            (cmd, Key::Minus, Action::ZoomOut),
            (cmd, Key::Num0, Action::ZoomFit),
            (cmd, Key::Num1, Action::Zoom100),
        ];
        for (mods, key, action) in commands {
            if i.consume_key(mods, key) {
                actions.push(action);
            }
        }
    });
    if ctx.text_edit_focused() {
        return actions;
    }
    ctx.input_mut(|i| {
        for tool in Tool::ALL {
            let key = Key::from_name(&tool.shortcut().to_string());
            if key.is_some_and(|k| i.consume_key(Modifiers::NONE, k)) {
                app.tool = tool;
            }
        }
        if i.consume_key(Modifiers::NONE, Key::OpenBracket) {
            app.brush_px = step_brush_size(app.brush_px, false);
        }
        if i.consume_key(Modifiers::NONE, Key::CloseBracket) {
            app.brush_px = step_brush_size(app.brush_px, true);
        }
        for (n, key) in NUMBER_KEYS.into_iter().enumerate() {
            if i.consume_key(Modifiers::NONE, key) {
                if let Some(class) = app.palette.classes.get(n) {
                    app.active = class.id;
                }
            }
        }
    });
    actions
}
