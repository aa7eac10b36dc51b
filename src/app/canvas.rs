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
    Stroke { last: [f32; 2] },
    /// Shift-line, rectangle or ellipse: start position, redrawn from there.
    Shape { start: [f32; 2] },
    /// Panning: last screen position.
    Pan { last: Pos2 },
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
    /// The user zoomed or panned (or a project restored its view): a resized window keeps
    /// the view instead of fitting the painting again.
    pub user_placed: bool,
    texture: Option<TextureHandle>,
    /// The palette the texture was drawn with (re-upload everything when it changes).
    texture_palette: String,
    gesture: Option<Gesture>,
    area: Rect,
    pixels_per_point: f32,
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
            user_placed: false,
            texture: None,
            texture_palette: String::new(),
            gesture: None,
            area: Rect::NOTHING,
            pixels_per_point: 1.0,
        }
    }

    /// Screen position of the image origin.
    /// Snapped to whole physical pixels, so zoomed-in image pixels are crisp equal blocks.
    fn origin(&self) -> Pos2 {
        let p = (self.area.min + self.offset).to_vec2() * self.pixels_per_point;
        (p.round() / self.pixels_per_point).to_pos2()
    }

    pub fn screen_to_image(&self, p: Pos2) -> [f32; 2] {
        let v = (p - self.origin()) / self.zoom;
        [v.x, v.y]
    }

    pub fn image_to_screen(&self, p: [f32; 2]) -> Pos2 {
        self.origin() + Vec2::new(p[0], p[1]) * self.zoom
    }

    /// The canvas area on screen (as of the last frame).
    pub fn area(&self) -> Rect {
        self.area
    }

    /// The painting's rectangle on screen.
    pub fn image_rect(&self, width: u32, height: u32) -> Rect {
        Rect::from_min_max(
            self.image_to_screen([0.0, 0.0]),
            self.image_to_screen([width as f32, height as f32]),
        )
    }

    /// Zooms by `factor` keeping the image point under `anchor` fixed.
    pub fn zoom_by(&mut self, factor: f32, anchor: Pos2) {
        self.user_placed = true;
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
        self.user_placed = false;
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
        let resized = self.area.size() != response.rect.size();
        self.area = response.rect;
        self.pixels_per_point = ui.ctx().pixels_per_point();
        if self.fit_requested || (resized && !self.user_placed) {
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

    /// Replays this frame's pointer events in order, so a stroke follows every reported
    /// position even when several arrive in one (slow) frame, and starts where the button
    /// went down rather than where the pointer is by the time the frame runs.
    fn handle_pointer(
        &mut self,
        ui: &egui::Ui,
        response: &egui::Response,
        doc: &mut Document,
        tools: ToolState,
    ) -> CanvasEvents {
        let mut events = CanvasEvents::default();
        let (path, any_down, space, mods) = ui.input(|i| {
            let path: Vec<(Pos2, Option<(PointerButton, bool)>)> = i
                .events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::PointerMoved(p) => Some((*p, None)),
                    egui::Event::PointerButton {
                        pos,
                        button,
                        pressed,
                        ..
                    } => Some((*pos, Some((*button, *pressed)))),
                    _ => None,
                })
                .collect();
            let any_down = i.pointer.primary_down() || i.pointer.middle_down();
            (path, any_down, i.key_down(egui::Key::Space), i.modifiers)
        });
        let ctx = ui.ctx();
        let area = self.area;
        let on_canvas = |p: Pos2| area.contains(p) && ctx.layer_id_at(p) == Some(response.layer_id);
        for (pos, button) in path {
            match button {
                Some((PointerButton::Primary, true))
                    if self.gesture.is_none() && on_canvas(pos) =>
                {
                    if space {
                        self.gesture = Some(Gesture::Pan { last: pos });
                        continue;
                    }
                    let p = self.screen_to_image(pos);
                    if mods.alt || tools.tool == Tool::Eyedropper {
                        let px = floor_px(p);
                        events.picked = doc.id_at(px[0], px[1]).or(events.picked);
                        continue;
                    }
                    self.start_gesture(doc, tools, p, mods.shift);
                }
                Some((PointerButton::Middle, true)) if self.gesture.is_none() && on_canvas(pos) => {
                    self.gesture = Some(Gesture::Pan { last: pos });
                }
                Some((_, false)) => {
                    self.move_to(doc, tools, pos);
                    self.finish_gesture(doc);
                }
                None => self.move_to(doc, tools, pos),
                Some(_) => {}
            }
        }
        if !any_down {
            self.finish_gesture(doc);
        }
        events
    }

    fn move_to(&mut self, doc: &mut Document, tools: ToolState, pos: Pos2) {
        match self.gesture {
            Some(Gesture::Pan { last }) => {
                self.offset += pos - last;
                self.user_placed = true;
                self.gesture = Some(Gesture::Pan { last: pos });
            }
            Some(gesture) => {
                let p = self.screen_to_image(pos);
                self.continue_gesture(doc, tools, gesture, p);
            }
            None => {}
        }
    }

    fn finish_gesture(&mut self, doc: &mut Document) {
        if self.gesture.take().is_some() {
            doc.end_stroke();
        }
    }

    fn start_gesture(&mut self, doc: &mut Document, tools: ToolState, p: [f32; 2], shift: bool) {
        let px = floor_px(p);
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
            Gesture::Pan { .. } => {}
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
    let lut: Vec<Color32> = palette
        .colour_lut()
        .into_iter()
        .map(|[r, g, b]| Color32::from_rgb(r, g, b))
        .collect();
    let mut pixels = Vec::with_capacity(rect.width() as usize * rect.height() as usize);
    for y in rect.y0..rect.y1 {
        let row = map.offset(rect.x0, y)..map.offset(rect.x1, y);
        pixels.extend(map.ids[row].iter().map(|&id| lut[usize::from(id)]));
    }
    ColorImage::new([rect.width() as usize, rect.height() as usize], pixels)
}
