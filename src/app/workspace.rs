//! The work area (issue 18): the canvas and the generated image side by side at the same
//! size, as NVIDIA Canvas shows them, split by a handle the user drags; the window's size
//! drives both halves. Each half has a row on top (the painting's name, the preview's view
//! controls) of the same height, so a preview that matches the canvas's zoom and pan lines up
//! pixel for pixel. "Full size" gives the preview the whole area, and so does the painting
//! while no model is loaded.
use super::canvas::ToolState;
use super::preview::{CanvasPlacement, HEADER_HEIGHT, HEADER_PADDING};
use super::PainterApp;
use egui::{Rect, Sense, UiBuilder};

/// Width of the split handle, in points.
const HANDLE_WIDTH: f32 = 8.0;
/// The canvas's share of the width stays within these bounds.
pub const SPLIT_RANGE: (f32, f32) = (0.2, 0.8);

/// The halves side by side, or one above the other (a wide painting in a tall window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stacking {
    SideBySide,
    Stacked,
}

/// The arrangement that shows a `painting`-sized image largest in each half of `area`.
pub fn best_stacking(area: Rect, painting: [u32; 2]) -> Stacking {
    let (w, h) = (painting[0].max(1) as f32, painting[1].max(1) as f32);
    let scale = |half: egui::Vec2| (half.x / w).min((half.y - HEADER_HEIGHT) / h);
    let side = scale(egui::vec2(
        (area.width() - HANDLE_WIDTH) / 2.0,
        area.height(),
    ));
    let stacked = scale(egui::vec2(
        area.width(),
        (area.height() - HANDLE_WIDTH) / 2.0,
    ));
    if stacked > side {
        Stacking::Stacked
    } else {
        Stacking::SideBySide
    }
}

/// The canvas half, the handle and the preview half of `area`; the canvas comes first (left
/// or top) unless `swapped`.
pub fn split_area(
    area: Rect,
    canvas_share: f32,
    swapped: bool,
    stacking: Stacking,
) -> (Rect, Rect, Rect) {
    let share = canvas_share.clamp(SPLIT_RANGE.0, SPLIT_RANGE.1);
    let first_share = if swapped { 1.0 - share } else { share };
    let (first, handle, second) = match stacking {
        Stacking::SideBySide => {
            let cut = area.left() + first_share * (area.width() - HANDLE_WIDTH).max(0.0);
            let (first, rest) = area.split_left_right_at_x(cut);
            let (handle, second) = rest.split_left_right_at_x(cut + HANDLE_WIDTH);
            (first, handle, second)
        }
        Stacking::Stacked => {
            let cut = area.top() + first_share * (area.height() - HANDLE_WIDTH).max(0.0);
            let (first, rest) = area.split_top_bottom_at_y(cut);
            let (handle, second) = rest.split_top_bottom_at_y(cut + HANDLE_WIDTH);
            (first, handle, second)
        }
    };
    if swapped {
        (second, handle, first)
    } else {
        (first, handle, second)
    }
}

impl PainterApp {
    /// The central area: canvas | handle | preview (or swapped), or the preview alone.
    pub(super) fn workspace(&mut self, ui: &mut egui::Ui) {
        let area = ui.available_rect_before_wrap();
        let size = [self.doc.width(), self.doc.height()];
        if self.live.is_none() {
            // Nothing to preview yet: the painting takes the whole area.
            let mut whole = ui.new_child(UiBuilder::new().max_rect(area));
            self.canvas_half(&mut whole);
            return;
        }
        if self.preview.full_size {
            let mut half = ui.new_child(UiBuilder::new().max_rect(area));
            self.preview
                .show_image(&mut half, self.live.as_mut(), None, size);
            return;
        }
        let stacking = best_stacking(area, size);
        let (canvas_rect, handle_rect, preview_rect) =
            split_area(area, self.preview.split, self.preview.swapped, stacking);
        self.split_handle(ui, area, handle_rect, stacking);
        let mut canvas_ui = ui.new_child(UiBuilder::new().max_rect(canvas_rect));
        let placement = self.canvas_half(&mut canvas_ui);
        let mut preview_ui = ui.new_child(UiBuilder::new().max_rect(preview_rect));
        self.preview
            .show_image(&mut preview_ui, self.live.as_mut(), Some(placement), size);
    }

    fn canvas_half(&mut self, ui: &mut egui::Ui) -> CanvasPlacement {
        ui.horizontal(|ui| {
            ui.set_min_height(HEADER_HEIGHT);
            ui.add_space(HEADER_PADDING);
            let name = self
                .project_path
                .as_deref()
                .and_then(|p| p.file_name())
                .map_or_else(|| "Untitled".to_string(), |n| n.to_string_lossy().into());
            ui.label(egui::RichText::new(name).strong());
            if self.has_unsaved_work() {
                ui.weak("unsaved changes");
            }
            if self.live.is_none() {
                ui.separator();
                let loading = self.models.is_loading();
                let text = if loading {
                    "Loading the model…"
                } else {
                    "No model loaded"
                };
                ui.weak(text).on_hover_text(
                    "Choose a model under 'Model and style': its preview then shares the window",
                );
            }
        });
        let tools = ToolState {
            tool: self.tool,
            brush_px: self.brush_px,
            active: self.active,
            background: self.palette.background,
        };
        let events = self.view.show(ui, &mut self.doc, &self.palette, tools);
        self.hover_px = events.hover_px;
        if let Some(id) = events.picked {
            self.active = id;
        }
        CanvasPlacement {
            area: self.view.area(),
            image: self.view.image_rect(self.doc.width(), self.doc.height()),
        }
    }

    /// The handle between the halves: a grip the user drags to share the space.
    fn split_handle(&mut self, ui: &mut egui::Ui, area: Rect, handle: Rect, stacking: Stacking) {
        let side_by_side = stacking == Stacking::SideBySide;
        let cursor = if side_by_side {
            egui::CursorIcon::ResizeHorizontal
        } else {
            egui::CursorIcon::ResizeVertical
        };
        let response = ui
            .interact(handle, ui.scope_id().with("split-handle"), Sense::drag())
            .on_hover_cursor(cursor)
            .on_hover_text("Drag to share the space between painting and preview");
        if let (true, Some(pointer)) = (response.dragged(), response.interact_pointer_pos()) {
            let along = if side_by_side {
                (pointer.x - area.left()) / area.width().max(1.0)
            } else {
                (pointer.y - area.top()) / area.height().max(1.0)
            };
            let share = if self.preview.swapped {
                1.0 - along
            } else {
                along
            };
            self.preview.split = share.clamp(SPLIT_RANGE.0, SPLIT_RANGE.1);
        }
        let grip = ui.style().interact(&response).fg_stroke.color;
        let painter = ui.painter();
        painter.rect_filled(handle, 0.0, ui.visuals().panel_fill);
        let line = ui.visuals().widgets.noninteractive.bg_stroke;
        let centre = handle.center();
        if side_by_side {
            painter.vline(centre.x, handle.y_range(), line);
        } else {
            painter.hline(handle.x_range(), centre.y, line);
        }
        for step in [-12.0, -6.0, 0.0, 6.0, 12.0] {
            let offset = if side_by_side {
                egui::vec2(0.0, step)
            } else {
                egui::vec2(step, 0.0)
            };
            painter.circle_filled(centre + offset, 1.8, grip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halves_share_the_space_and_swap() {
        let area = Rect::from_min_size(egui::pos2(10.0, 20.0), egui::vec2(1008.0, 600.0));
        let side = Stacking::SideBySide;
        let (canvas, handle, preview) = split_area(area, 0.5, false, side);
        assert_eq!(canvas.width(), preview.width());
        assert_eq!(canvas.left(), 10.0);
        assert_eq!(handle.width(), HANDLE_WIDTH);
        assert_eq!(preview.right(), area.right());
        let (canvas_s, _, preview_s) = split_area(area, 0.5, true, side);
        assert_eq!((canvas_s, preview_s), (preview, canvas));
        let (narrow, _, _) = split_area(area, 0.0, false, side);
        assert_eq!(narrow.width(), (1008.0 - HANDLE_WIDTH) * SPLIT_RANGE.0);
        let (wide, _, _) = split_area(area, 0.7, true, side);
        assert!((wide.width() - 0.7 * 1000.0).abs() < 1e-3);
        assert_eq!(
            wide.right(),
            area.right(),
            "swapped: the canvas on the right"
        );
        let (top, handle, bottom) = split_area(area, 0.5, false, Stacking::Stacked);
        assert_eq!(top.height(), bottom.height());
        assert_eq!(handle.height(), HANDLE_WIDTH);
        assert_eq!((top.width(), bottom.bottom()), (1008.0, area.bottom()));
    }

    #[test]
    fn a_wide_painting_in_a_tall_area_is_stacked() {
        let tall = Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(990.0, 740.0));
        assert_eq!(best_stacking(tall, [512, 256]), Stacking::Stacked);
        assert_eq!(best_stacking(tall, [512, 512]), Stacking::SideBySide);
        let wide = Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1630.0, 1000.0));
        assert_eq!(best_stacking(wide, [512, 512]), Stacking::SideBySide);
    }
}
