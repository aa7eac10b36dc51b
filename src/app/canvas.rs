//! The canvas widget: shows the label map through the palette, turns pointer input into tool
//! operations, zooms (wheel, ctrl +/-, fit) and pans (middle drag, space + drag).
//!
//! The texture is uploaded whole only when the canvas size or palette changes; strokes upload
//! just the rectangle they changed, which keeps painting smooth on 2048x2048 canvases.
use crate::labels::Palette;
use crate::paint::{Document, Rect as PixRect, Tool};
use egui::{
    Color32, ColorImage, PointerButton, Pos2, Rect, Sense, Stroke, TextureHandle, TextureOptions,
    Vec2,
};

/// Zoom limits (screen points per image pixel).
pub const MIN_ZOOM: f32 = 0.05;
pub const MAX_ZOOM: f32 = 64.0;
/// Accessible name of the canvas (tests find it by this label).
pub const CANVAS_LABEL: &str = "Painting canvas";

/// What a drag on the canvas is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Gesture {
    /// Freehand brush/eraser: last image position.
    Stroke {
        last: [f32; 2],
    },
    /// Shift-line, rectangle or ellipse: start position, redrawn from there.
    Shape {
        start: [f32; 2],
    },
    Pan,
}

/// What the canvas reports to the app after a frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct CanvasEvents {
    /// Eyedropper picked this class.
    pub picked: Option<u16>,
    /// Image pixel under the pointer.
    pub hover_px: Option<[i64; 2]>,
}

/// Tool settings the canvas paints with.
#[derive(Debug, Clone, Copy)]
pub struct ToolState {
    pub tool: Tool,
    pub brush_px: u32,
    pub active: u16,
    pub background: u16,
}

pub struct CanvasView {
    pub zoom: f32,
    /// Image top-left relative to the canvas area's top-left, in points.
    pub offset: Vec2,
    /// Fit the image on the next frame (set for new/opened documents).
    pub fit_requested: bool,
    texture: Option<TextureHandle>,
    /// The palette the texture was drawn with (re-upload everything when it changes).
    texture_palette: String,
    gesture: Option<Gesture>,
    area: Rect,
}

impl Default for CanvasView {
    fn default() -> Self {
        Self::new()
    }
}

impl CanvasView {
    pub fn new() -> Self {
        CanvasView {
            zoom: 1.0,
            offset: Vec2::ZERO,
            fit_requested: true,
            texture: None,
            texture_palette: String::new(),
            gesture: None,
            area: Rect::NOTHING,
        }
    }

    /// Screen position of the image origin.
    fn origin(&self) -> Pos2 {
        self.area.min + self.offset
    }

    pub fn screen_to_image(&self, p: Pos2) -> [f32; 2] {
        let v = (p - self.origin()) / self.zoom;
        [v.x, v.y]
    }

    pub fn image_to_screen(&self, p: [f32; 2]) -> Pos2 {
        self.origin() + Vec2::new(p[0], p[1]) * self.zoom
    }

    /// Zooms by `factor` keeping the image point under `anchor` fixed.
    pub fn zoom_by(&mut self, factor: f32, anchor: Pos2) {
        let new_zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        let rel = anchor - self.area.min;
        self.offset = rel - (rel - self.offset) * (new_zoom / self.zoom);
        self.zoom = new_zoom;
    }

    /// Zooms around the centre of the canvas area.
    pub fn zoom_centre(&mut self, factor: f32) {
        self.zoom_by(factor, self.area.center());
    }

    /// Fits the whole image into the area, centred.
    pub fn fit(&mut self, width: u32, height: u32) {
        let size = self.area.size();
        if size.x <= 0.0 || size.y <= 0.0 {
            self.fit_requested = true;
            return;
        }
        let (w, h) = (width as f32, height as f32);
        self.zoom = ((size.x / w).min(size.y / h) * 0.95).clamp(MIN_ZOOM, MAX_ZOOM);
        self.offset = (size - Vec2::new(w, h) * self.zoom) / 2.0;
        self.fit_requested = false;
    }

    /// Draws the canvas and applies pointer input to `doc`.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        doc: &mut Document,
        palette: &Palette,
        tools: ToolState,
    ) -> CanvasEvents {
        let (response, painter) = ui.allocate_painter(ui.available_size(), Sense::click_and_drag());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, CANVAS_LABEL));
        self.area = response.rect;
        if self.fit_requested {
            self.fit(doc.width(), doc.height());
        }
        self.handle_zoom(ui, &response);
        let mut events = self.handle_pointer(ui, &response, doc, tools);
        self.sync_texture(ui.ctx(), doc, palette);

        painter.rect_filled(self.area, 0.0, ui.visuals().extreme_bg_color);
        if let Some(texture) = &self.texture {
            let min = self.image_to_screen([0.0, 0.0]);
            let max = self.image_to_screen([doc.width() as f32, doc.height() as f32]);
            let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
            painter.image(
                texture.id(),
                Rect::from_min_max(min, max),
                uv,
                Color32::WHITE,
            );
        }
        if let Some(pos) = response.hover_pos() {
            let p = self.screen_to_image(pos);
            let px = [p[0].floor() as i64, p[1].floor() as i64];
            if doc.id_at(px[0], px[1]).is_some() {
                events.hover_px = Some(px);
            }
            if matches!(tools.tool, Tool::Brush | Tool::Eraser) {
                let c = crate::paint::raster::brush_centre(p, tools.brush_px);
                let centre = self.image_to_screen([c[0] as f32, c[1] as f32]);
                let radius = tools.brush_px as f32 / 2.0 * self.zoom;
                let outline = Stroke::new(1.0, ui.visuals().strong_text_color());
                painter.circle_stroke(centre, radius.max(1.5), outline);
            }
        }
        events
    }

    fn handle_zoom(&mut self, ui: &egui::Ui, response: &egui::Response) {
        let Some(pos) = response.hover_pos() else {
            return;
        };
        let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
        let factor = (scroll * 0.0025).exp() * pinch;
        if (factor - 1.0).abs() > 1e-4 {
            self.zoom_by(factor, pos);
        }
    }

    fn handle_pointer(
        &mut self,
        ui: &egui::Ui,
        response: &egui::Response,
        doc: &mut Document,
        tools: ToolState,
    ) -> CanvasEvents {
        let mut events = CanvasEvents::default();
        let (pos, pressed, primary_down, middle_down, space, mods, delta) = ui.input(|i| {
            (
                i.pointer.interact_pos(),
                i.pointer.button_pressed(PointerButton::Primary),
                i.pointer.primary_down(),
                i.pointer.middle_down(),
                i.key_down(egui::Key::Space),
                i.modifiers,
                i.pointer.delta(),
            )
        });
        let Some(pos) = pos else {
            return events;
        };
        let hovered = response.contains_pointer();
        let middle_pressed = ui.input(|i| i.pointer.button_pressed(PointerButton::Middle));

        if self.gesture.is_none() && hovered && (middle_pressed || (pressed && space)) {
            self.gesture = Some(Gesture::Pan);
        } else if self.gesture.is_none() && hovered && pressed {
            let p = self.screen_to_image(pos);
            let px = [p[0].floor() as i64, p[1].floor() as i64];
            if mods.alt || tools.tool == Tool::Eyedropper {
                events.picked = doc.id_at(px[0], px[1]);
                return events;
            }
            self.start_gesture(doc, tools, p, px, mods.shift);
        }

        match self.gesture {
            Some(Gesture::Pan) => {
                self.offset += delta;
                if !middle_down && !primary_down {
                    self.gesture = None;
                }
            }
            Some(gesture) => {
                let p = self.screen_to_image(pos);
                self.continue_gesture(doc, tools, gesture, p);
                if !primary_down {
                    doc.end_stroke();
                    self.gesture = None;
                }
            }
            None => {}
        }
        events
    }

    fn start_gesture(
        &mut self,
        doc: &mut Document,
        tools: ToolState,
        p: [f32; 2],
        px: [i64; 2],
        shift: bool,
    ) {
        match tools.tool {
            Tool::Fill => {
                doc.fill(px[0], px[1], tools.active);
            }
            Tool::Brush | Tool::Eraser => {
                doc.begin_stroke();
                let id = paint_id(tools);
                doc.brush(p, p, tools.brush_px, id);
                self.gesture = Some(if shift {
                    Gesture::Shape { start: p }
                } else {
                    Gesture::Stroke { last: p }
                });
            }
            Tool::Rectangle | Tool::Ellipse => {
                doc.begin_stroke();
                self.gesture = Some(Gesture::Shape { start: p });
                self.continue_gesture(doc, tools, Gesture::Shape { start: p }, p);
            }
            Tool::Eyedropper => {}
        }
    }

    fn continue_gesture(
        &mut self,
        doc: &mut Document,
        tools: ToolState,
        gesture: Gesture,
        p: [f32; 2],
    ) {
        let id = paint_id(tools);
        match gesture {
            Gesture::Stroke { last } => {
                if last != p {
                    doc.brush(last, p, tools.brush_px, id);
                    self.gesture = Some(Gesture::Stroke { last: p });
                }
            }
            Gesture::Shape { start } => {
                doc.reset_stroke();
                let (a, b) = (floor_px(start), floor_px(p));
                match tools.tool {
                    Tool::Rectangle => doc.rect(a, b, id),
                    Tool::Ellipse => doc.ellipse(a, b, id),
                    _ => doc.brush(start, p, tools.brush_px, id),
                };
            }
            Gesture::Pan => {}
        }
    }

    /// Uploads what changed in the document (or everything after a size/palette change).
    fn sync_texture(&mut self, ctx: &egui::Context, doc: &mut Document, palette: &Palette) {
        let size = [doc.width() as usize, doc.height() as usize];
        let stale = match &self.texture {
            Some(t) => t.size() != size || self.texture_palette != palette.name,
            None => true,
        };
        let options = TextureOptions::NEAREST;
        if stale {
            doc.take_dirty();
            let full = PixRect::of(doc.map());
            let image = colour_image(doc, palette, full);
            self.texture = Some(ctx.load_texture("scenepaint-canvas", image, options));
            self.texture_palette = palette.name.clone();
        } else if let (Some(rect), Some(texture)) = (doc.take_dirty(), self.texture.as_mut()) {
            let image = colour_image(doc, palette, rect);
            texture.set_partial([rect.x0 as usize, rect.y0 as usize], image, options);
        }
    }

    /// Forces a full texture upload (e.g. after editing palette colours in place).
    pub fn invalidate_texture(&mut self) {
        self.texture = None;
    }
}

fn paint_id(tools: ToolState) -> u16 {
    if tools.tool == Tool::Eraser {
        tools.background
    } else {
        tools.active
    }
}

fn floor_px(p: [f32; 2]) -> [i64; 2] {
    [p[0].floor() as i64, p[1].floor() as i64]
}

/// The palette colours of a rectangle of the document.
fn colour_image(doc: &Document, palette: &Palette, rect: PixRect) -> ColorImage {
    let map = doc.map();
    let mut pixels = Vec::with_capacity(rect.width() as usize * rect.height() as usize);
    for y in rect.y0..rect.y1 {
        for x in rect.x0..rect.x1 {
            let [r, g, b] = palette.rgb(map.get(x, y));
            pixels.push(Color32::from_rgb(r, g, b));
        }
    }
    ColorImage::new([rect.width() as usize, rect.height() as usize], pixels)
}
