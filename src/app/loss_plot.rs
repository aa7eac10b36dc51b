//! Loss curves of a training run with egui_plot: one line per loss term against the
//! iteration, a legend whose entries hide or show a term (the terms' scales differ: feature
//! matching and VGG sit near 10, the GAN terms near 1), zoom and drag, double click to reset;
//! and beside them the FID of the held-out pairs at each evaluation (`eval_every`).
use egui::Color32;
use egui_plot::{Corner, HLine, Legend, Line, LineStyle, Plot, PlotPoints};
use std::collections::BTreeMap;

use crate::labels::Palette;
use crate::train::evaluation::{best, class_label, EvalRecord, RealReference};

/// Accessible name of the plot.
pub const LOSS_PLOT_LABEL: &str = "Loss curves";
/// Accessible name of the FID plot.
pub const FID_PLOT_LABEL: &str = "FID curve";
const FID_PLOT_HEIGHT_PX: f32 = 150.0;

const PLOT_HEIGHT_PX: f32 = 190.0;

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

/// Draws every series of `losses` ((iteration, value) points), then each term's latest value.
pub fn show(ui: &mut egui::Ui, losses: &BTreeMap<String, Vec<[f64; 2]>>) {
    if losses.values().all(Vec::is_empty) {
        ui.weak("Loss curves: no losses yet");
        return;
    }
    let response = Plot::new("scenepaint-loss-curves")
        .height(PLOT_HEIGHT_PX)
        .legend(Legend::default().position(Corner::RightTop))
        .x_axis_label("iteration")
        .allow_scroll(false)
        .show(ui, |plot| {
            for (index, (name, series)) in losses.iter().enumerate() {
                let points: PlotPoints<'_> = series.clone().into();
                plot.line(
                    Line::new(name.as_str(), points)
                        .color(COLOURS[index % COLOURS.len()])
                        .width(1.5),
                );
            }
        })
        .response;
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, LOSS_PLOT_LABEL));
    // The legend names stay fixed (it remembers hidden terms by name); the values go here.
    ui.horizontal_wrapped(|ui| {
        ui.weak("latest:");
        for (index, (name, series)) in losses.iter().enumerate() {
            if let Some([_, value]) = series.last() {
                let colour = COLOURS[index % COLOURS.len()];
                // Kept whole: the row wraps between terms, never inside one.
                let text = egui::RichText::new(format!("{name} {value:.3}")).color(colour);
                ui.add(egui::Label::new(text).wrap_mode(egui::TextWrapMode::Extend));
            }
        }
    });
}

/// The legend name of the real-photo level in the FID plot.
pub const REFERENCE_NAME: &str = "real photos vs real photos";

/// FID against the iteration, with the best evaluation named; nothing before the first one.
/// A run that averages its generator has two curves: the average its bundle ships and its
/// current weights (`EvalRecord::current_weights`). `reference`, the held-out photos against
/// other real photos at the same count, is drawn as a dashed level: FID on a few dozen images
/// is far above 0 even for real photos, and that level is what a person reads the curve
/// against.
pub fn show_fid(
    ui: &mut egui::Ui,
    evaluations: &[EvalRecord],
    palette: Option<&Palette>,
    reference: Option<RealReference>,
) {
    let Some(last) = evaluations.iter().rev().find(|r| !r.current_weights) else {
        return;
    };
    let curve = |current: bool| -> PlotPoints<'_> {
        evaluations
            .iter()
            .filter(|r| r.current_weights == current)
            .map(|r| [r.iteration as f64, r.fid])
            .collect::<Vec<_>>()
            .into()
    };
    let averaged = evaluations.iter().any(|r| r.current_weights);
    // No x-axis label: the loss curves just above name the same iteration axis.
    let mut plot = Plot::new("scenepaint-fid-curve")
        .height(FID_PLOT_HEIGHT_PX)
        .y_axis_label("FID")
        .allow_scroll(false);
    // The real-photo level sits far below the curves: the legend goes in the gap above it.
    let corner = if reference.is_some() {
        Corner::RightBottom
    } else {
        Corner::RightTop
    };
    if averaged || reference.is_some() {
        plot = plot.legend(Legend::default().position(corner));
    }
    let response = plot
        .show(ui, |plot| {
            let name = if averaged {
                "FID (held-out), weight average"
            } else {
                "FID (held-out)"
            };
            plot.line(Line::new(name, curve(false)).color(COLOURS[1]).width(2.0));
            if averaged {
                plot.line(
                    Line::new("FID (held-out), current weights", curve(true))
                        .color(COLOURS[2])
                        .width(1.5),
                );
            }
            if let Some(reference) = reference {
                plot.hline(
                    HLine::new(REFERENCE_NAME, reference.fid)
                        .color(COLOURS[3])
                        .style(LineStyle::dashed_loose()),
                );
            }
        })
        .response;
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, FID_PLOT_LABEL));
    let best = best(evaluations).unwrap_or(*last);
    let best_weights = if best.current_weights {
        " (current weights)"
    } else {
        ""
    };
    ui.label(format!(
        "FID {:.1} at iteration {} (KID {:.4}); best {:.1} at iteration {}{}",
        last.fid, last.iteration, last.kid, best.fid, best.iteration, best_weights
    ));
    if let Some(reference) = reference {
        ui.label(format!(
            "Real photos score FID {:.1} (KID {:.4}) against {} other photos of the data",
            reference.fid, reference.kid, reference.pairs
        ))
        .on_hover_text(
            "The held-out photos against as many other real photos: with a few dozen images \
             FID is far above 0 even for real photos, so this, not 0, is the level to read the \
             model's FID against. KID has no such bias: real photos score about 0.",
        );
    }
    if let Some(class) = last.least_visible_class {
        ui.label(format!(
            "Least visible class: {}, {:.2} of the photos' contrast with its surroundings",
            class_label(palette, class.id),
            class.ratio
        ))
        .on_hover_text(
            "How much each class's colour stands out from an 8-pixel band around it in the \
             generated images, as a share of the same in the photos (1 = as in the photos); \
             the class with the smallest share (scenepaint evaluate --classes lists them all).",
        );
    }
}
