//! Loss curves of a training run, one coloured line per loss term with a legend.
//! Drawn with egui's painter rather than egui_plot: egui_plot 0.37.0 is built against egui
//! 0.36, so its `Ui` is not the app's (and it pulled a second egui into the build).
use egui::{Color32, Pos2, Stroke};
use std::collections::BTreeMap;

/// Accessible name of the plot.
pub const LOSS_PLOT_LABEL: &str = "Loss curves";

const COLOURS: [Color32; 8] = [
    Color32::from_rgb(230, 90, 80),
    Color32::from_rgb(90, 170, 240),
    Color32::from_rgb(120, 210, 110),
    Color32::from_rgb(240, 190, 60),
    Color32::from_rgb(200, 120, 230),
    Color32::from_rgb(80, 210, 200),
    Color32::from_rgb(240, 140, 190),
    Color32::from_rgb(180, 180, 180),
];

/// Draws every series of `losses` ((iteration, value) points) on shared axes.
pub fn show(ui: &mut egui::Ui, losses: &BTreeMap<String, Vec<[f64; 2]>>) {
    let size = egui::vec2(ui.available_width().max(200.0), 170.0);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, LOSS_PLOT_LABEL));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let points = losses.values().flatten();
    let (mut x_min, mut x_max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y_min, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for [x, y] in points {
        x_min = x_min.min(*x);
        x_max = x_max.max(*x);
        y_min = y_min.min(*y);
        y_max = y_max.max(*y);
    }
    if !y_min.is_finite() {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "no losses yet",
            egui::FontId::default(),
            ui.visuals().weak_text_color(),
        );
        return;
    }
    let y_span = (y_max - y_min).max(1e-6);
    let x_span = (x_max - x_min).max(1.0);
    let to_screen = |x: f64, y: f64| {
        Pos2::new(
            rect.left() + 4.0 + ((x - x_min) / x_span) as f32 * (rect.width() - 8.0),
            rect.bottom() - 4.0 - ((y - y_min) / y_span) as f32 * (rect.height() - 8.0),
        )
    };
    let font = egui::FontId::proportional(11.0);
    for (index, (name, series)) in losses.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let line: Vec<Pos2> = series.iter().map(|[x, y]| to_screen(*x, *y)).collect();
        if line.len() == 1 {
            painter.circle_filled(line[0], 2.5, colour);
        } else {
            painter.add(egui::Shape::line(line, Stroke::new(1.5, colour)));
        }
        let last = series.last().map_or(0.0, |p| p[1]);
        let legend = Pos2::new(rect.right() - 150.0, rect.top() + 4.0 + 13.0 * index as f32);
        painter.text(
            legend,
            egui::Align2::LEFT_TOP,
            format!("{name} {last:.3}"),
            font.clone(),
            colour,
        );
    }
    let weak = ui.visuals().weak_text_color();
    painter.text(
        rect.left_top() + egui::vec2(4.0, 2.0),
        egui::Align2::LEFT_TOP,
        format!("{y_max:.3}"),
        font.clone(),
        weak,
    );
    painter.text(
        rect.left_bottom() + egui::vec2(4.0, -2.0),
        egui::Align2::LEFT_BOTTOM,
        format!("{y_min:.3}  (iterations {x_min:.0}–{x_max:.0})"),
        font,
        weak,
    );
}
