//! The painting core, independent of any UI: a label-map document, raster tools and undo.
pub mod document;
pub mod history;
pub mod project;
pub mod raster;

pub use document::{validate_canvas_size, Document, CANVAS_PRESETS, MAX_CANVAS_SIDE};
pub use raster::Rect;

/// Brush sizes in pixels.
pub const MIN_BRUSH_PX: u32 = 1;
pub const MAX_BRUSH_PX: u32 = 256;

/// The painting tools. Straight lines are the brush (or eraser) with shift held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Tool {
    #[default]
    Brush,
    Eraser,
    Fill,
    Rectangle,
    Ellipse,
    Eyedropper,
}

impl Tool {
    pub const ALL: [Tool; 6] = [
        Tool::Brush,
        Tool::Eraser,
        Tool::Fill,
        Tool::Rectangle,
        Tool::Ellipse,
        Tool::Eyedropper,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tool::Brush => "Brush",
            Tool::Eraser => "Eraser",
            Tool::Fill => "Fill",
            Tool::Rectangle => "Rectangle",
            Tool::Ellipse => "Ellipse",
            Tool::Eyedropper => "Eyedropper",
        }
    }

    /// Single-key shortcut.
    pub fn shortcut(self) -> char {
        match self {
            Tool::Brush => 'B',
            Tool::Eraser => 'E',
            Tool::Fill => 'G',
            Tool::Rectangle => 'R',
            Tool::Ellipse => 'O',
            Tool::Eyedropper => 'I',
        }
    }
}

/// Next brush size for `]` (grow) or `[` (shrink): steps of about 12%, at least 1 px.
pub fn step_brush_size(size_px: u32, grow: bool) -> u32 {
    let step = (size_px / 8).max(1);
    let next = if grow {
        size_px + step
    } else {
        size_px.saturating_sub(step)
    };
    next.clamp(MIN_BRUSH_PX, MAX_BRUSH_PX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brush_size_steps_stay_in_range() {
        assert_eq!(step_brush_size(1, false), 1);
        assert_eq!(step_brush_size(1, true), 2);
        assert_eq!(step_brush_size(16, true), 18);
        assert_eq!(step_brush_size(16, false), 14);
        assert_eq!(step_brush_size(250, true), 256);
        let mut s = 1;
        for _ in 0..100 {
            s = step_brush_size(s, true);
        }
        assert_eq!(s, MAX_BRUSH_PX);
    }
}
