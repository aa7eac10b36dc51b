//! The project file: label map + palette + view settings in one JSON document.
//!
//! The map is stored run-length encoded (row-major (id, count) pairs): painted label maps are
//! large flat regions, so a 2048x2048 painting is typically a few hundred kilobytes. The palette is
//! embedded whole, so a project opens identically even if it used a custom palette file.
use super::history::Rle;
use super::raster::Rect;
use super::Tool;
use crate::labelmap::LabelMap;
use crate::labels::Palette;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Marks a JSON file as one of ours.
pub const PROJECT_FORMAT: &str = "scenepaint-project";
pub const PROJECT_VERSION: u32 = 1;
/// Suggested file extension.
pub const PROJECT_EXTENSION: &str = "scenepaint";

/// How the painting was being viewed and edited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewSettings {
    /// Screen points per image pixel.
    pub zoom: f32,
    /// Image top-left relative to the canvas area's top-left, in points.
    pub offset: [f32; 2],
    pub tool: Tool,
    pub brush_px: u32,
    pub active_class: Option<u16>,
}

impl Default for ViewSettings {
    fn default() -> Self {
        ViewSettings {
            zoom: 1.0,
            offset: [0.0, 0.0],
            tool: Tool::Brush,
            brush_px: 16,
            active_class: None,
        }
    }
}

/// A saved painting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub format: String,
    pub version: u32,
    pub palette: Palette,
    pub view: ViewSettings,
    pub width: u32,
    pub height: u32,
    /// Row-major (id, run length) pairs covering width * height pixels.
    pub runs: Vec<(u16, u32)>,
}

impl Project {
    pub fn new(map: &LabelMap, palette: &Palette, view: ViewSettings) -> Self {
        let rle = Rle::encode(&map.ids, map.width, Rect::of(map));
        Project {
            format: PROJECT_FORMAT.to_string(),
            version: PROJECT_VERSION,
            palette: palette.clone(),
            view,
            width: map.width,
            height: map.height,
            runs: rle.runs().to_vec(),
        }
    }

    /// Decodes the label map, checking the runs cover the canvas exactly.
    pub fn label_map(&self) -> Result<LabelMap> {
        super::validate_canvas_size(self.width, self.height)?;
        let total: u64 = self.runs.iter().map(|&(_, n)| u64::from(n)).sum();
        let expected = u64::from(self.width) * u64::from(self.height);
        if total != expected {
            return Err(Error::msg(format!(
                "project map {}x{} needs {expected} pixels, its runs hold {total}",
                self.width, self.height
            )));
        }
        let mut map = LabelMap::new(self.width, self.height, 0);
        let all = Rect::of(&map);
        Rle::from_runs(self.runs.clone()).decode_into(&mut map, all);
        Ok(map)
    }

    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = serde_json::to_string(self).map_err(|e| Error::Json {
            path: path.into(),
            message: e.to_string(),
        })?;
        // A crash mid-write never leaves a truncated project.
        crate::atomic_file::write_text_atomic(path, &text)
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let project: Project = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.into(),
            message: e.to_string(),
        })?;
        if project.format != PROJECT_FORMAT || project.version > PROJECT_VERSION {
            return Err(Error::msg(format!(
                "{}: not a {PROJECT_FORMAT} file of version <= {PROJECT_VERSION} (found '{}' version {})",
                path.display(),
                project.format,
                project.version
            )));
        }
        project
            .label_map()
            .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        Ok(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_round_trip() {
        let palette = Palette::builtin("ycor").unwrap();
        let mut map = LabelMap::new(13, 7, 0);
        for i in 0..map.ids.len() {
            map.ids[i] = (i % 9 / 3) as u16;
        }
        let view = ViewSettings {
            zoom: 3.5,
            offset: [10.0, -4.0],
            tool: Tool::Ellipse,
            brush_px: 40,
            active_class: Some(8),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.scenepaint");
        Project::new(&map, &palette, view.clone())
            .save(&path)
            .unwrap();
        let back = Project::load(&path).unwrap();
        assert_eq!(back.label_map().unwrap(), map);
        assert_eq!(back.palette, palette);
        assert_eq!(back.view, view);
    }

    #[test]
    fn truncated_runs_are_rejected() {
        let palette = Palette::builtin("ycor").unwrap();
        let mut project = Project::new(&LabelMap::new(4, 4, 1), &palette, ViewSettings::default());
        project.runs[0].1 -= 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.scenepaint");
        project.save(&path).unwrap();
        let err = Project::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("bad.scenepaint") && err.contains("16"),
            "{err}"
        );
    }
}
