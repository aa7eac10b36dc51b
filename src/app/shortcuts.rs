//! Keyboard shortcuts. Tool keys and number keys are ignored while a text field has focus, so
//! typing in the palette search box does not switch tools. Reading the keys changes nothing:
//! what they ask for comes back as [`Shortcut`]s that [`PainterApp::run_shortcut`] carries out.
use super::toolbar::Action;
use super::PainterApp;
use crate::labels::Palette;
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

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shortcut {
    Perform(Action),
    Tool(Tool),
    /// `[` (false) or `]` (true): the next smaller or larger brush size.
    BrushStep {
        larger: bool,
    },
    /// Number keys 1-9: the palette's class with this id.
    Class(u16),
}

/// Reads this frame's shortcut keys; class keys index `palette`.
pub fn handle(ctx: &egui::Context, palette: &Palette) -> Vec<Shortcut> {
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
                actions.push(Shortcut::Perform(action));
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
                actions.push(Shortcut::Tool(tool));
            }
        }
        if i.consume_key(Modifiers::NONE, Key::OpenBracket) {
            actions.push(Shortcut::BrushStep { larger: false });
        }
        if i.consume_key(Modifiers::NONE, Key::CloseBracket) {
            actions.push(Shortcut::BrushStep { larger: true });
        }
        for (n, key) in NUMBER_KEYS.into_iter().enumerate() {
            if i.consume_key(Modifiers::NONE, key) {
                if let Some(class) = palette.classes.get(n) {
                    actions.push(Shortcut::Class(class.id));
                }
            }
        }
    });
    actions
}

impl PainterApp {
    /// Carries out what a shortcut key asked for.
    pub(super) fn run_shortcut(&mut self, shortcut: Shortcut) {
        match shortcut {
            Shortcut::Perform(action) => self.perform(action),
            Shortcut::Tool(tool) => self.tool = tool,
            Shortcut::BrushStep { larger } => {
                self.brush_px = step_brush_size(self.brush_px, larger)
            }
            Shortcut::Class(id) => self.active = id,
        }
    }
}
