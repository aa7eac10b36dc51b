//! The palette panel: palette chooser, search box, and class swatches with names, grouped into
//! collapsible sections when the palette defines groups. Clicking an entry makes it active.
use crate::labels::{ClassInfo, Palette};
use egui::{Color32, RichText, Sense, Vec2};

/// Hint text of the search box (tests find it by this label).
pub const SEARCH_HINT: &str = "Search classes";

#[derive(Debug, Default)]
pub struct PalettePanel {
    pub search: String,
}

/// What the user did in the panel this frame.
#[derive(Debug, Default)]
pub struct PaletteEvents {
    pub picked: Option<u16>,
    /// Name of a built-in palette chosen in the combo box.
    pub switch_to: Option<String>,
    pub load_file: bool,
}

impl PalettePanel {
    pub fn show(&mut self, ui: &mut egui::Ui, palette: &Palette, active: u16) -> PaletteEvents {
        let mut events = PaletteEvents::default();
        egui::ComboBox::from_label("Palette")
            .selected_text(palette.name.as_str())
            .show_ui(ui, |ui| {
                for name in Palette::builtin_names() {
                    if ui.selectable_label(palette.name == name, name).clicked() {
                        events.switch_to = Some(name.to_string());
                    }
                }
                if ui.button("Load palette file…").clicked() {
                    events.load_file = true;
                }
            });
        let search = ui.add(
            egui::TextEdit::singleline(&mut self.search)
                .hint_text(SEARCH_HINT)
                .desired_width(f32::INFINITY),
        );
        // Enter in the search picks the first match, as a search box in a picker should.
        if search.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            if let Some(&first) = palette.search(&self.search).first() {
                events.picked = palette.classes.get(first).map(|c| c.id);
            }
        }
        ui.separator();
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if let Some(id) = self.show_entries(ui, palette, active) {
                    events.picked = Some(id);
                }
            });
        events
    }

    fn show_entries(&self, ui: &mut egui::Ui, palette: &Palette, active: u16) -> Option<u16> {
        let mut picked = None;
        let shortcut = |i: usize| (i < SHORTCUT_KEYS).then(|| i + 1);
        let has_groups = palette.classes.iter().any(|c| c.group.is_some());
        if !self.search.trim().is_empty() || !has_groups {
            let hits = palette.search(&self.search);
            if hits.is_empty() {
                ui.weak("No class matches");
            }
            for i in hits {
                picked = picked.or(entry(ui, &palette.classes[i], active, shortcut(i)));
            }
            return picked;
        }
        // Ungrouped classes first, then groups in order of first appearance.
        for (i, class) in palette
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.group.is_none())
        {
            picked = picked.or(entry(ui, class, active, shortcut(i)));
        }
        let mut groups: Vec<&str> = Vec::new();
        for g in palette.classes.iter().filter_map(|c| c.group.as_deref()) {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        for group in groups {
            let holds_active =
                palette.class(active).and_then(|c| c.group.as_deref()) == Some(group);
            let title = if holds_active {
                RichText::new(group).strong()
            } else {
                RichText::new(group)
            };
            egui::CollapsingHeader::new(title)
                .id_salt(("group", group))
                .default_open(true)
                .show(ui, |ui| {
                    for (i, class) in palette.classes.iter().enumerate() {
                        if class.group.as_deref() == Some(group) {
                            picked = picked.or(entry(ui, class, active, shortcut(i)));
                        }
                    }
                });
        }
        picked
    }
}

/// One swatch + name row; returns the id when clicked.
fn entry(
    ui: &mut egui::Ui,
    class: &ClassInfo,
    active: u16,
    shortcut: Option<usize>,
) -> Option<u16> {
    let selected = class.id == active;
    let row = ui.horizontal(|ui| {
        let (rect, swatch) = ui.allocate_exact_size(Vec2::splat(18.0), Sense::click());
        let [r, g, b] = class.rgb;
        ui.painter()
            .rect_filled(rect, 3.0, Color32::from_rgb(r, g, b));
        let outline = if selected {
            ui.visuals().selection.stroke
        } else {
            ui.visuals().widgets.noninteractive.bg_stroke
        };
        ui.painter()
            .rect_stroke(rect, 3.0, outline, egui::StrokeKind::Outside);
        let label = ui.selectable_label(selected, class.name.as_str());
        if let Some(n) = shortcut {
            // A keycap, so the key is not read as the class id (the status bar shows both).
            egui::Frame::new()
                .stroke(ui.visuals().widgets.noninteractive.bg_stroke)
                .corner_radius(3.0)
                .inner_margin(egui::Margin::symmetric(4, 0))
                .show(ui, |ui| ui.weak(RichText::new(n.to_string()).monospace()));
        }
        swatch.clicked() || label.clicked()
    });
    let clicked = row.inner;
    let key = shortcut.map_or_else(String::new, |n| format!(", key {n}"));
    let _hover = row
        .response
        .on_hover_text(format!("class id {}{key}", class.id));
    clicked.then_some(class.id)
}

/// The first classes of a palette are picked with keys 1 to 9.
pub const SHORTCUT_KEYS: usize = 9;

/// The number key that picks class `id`, if it has one.
pub fn shortcut_key(palette: &Palette, id: u16) -> Option<usize> {
    palette
        .position(id)
        .filter(|&i| i < SHORTCUT_KEYS)
        .map(|i| i + 1)
}
