//! Where the program finds the files it ships that are too large to embed in the binary: the
//! models under `weights/`, the VGG16 perceptual-loss weights, the example scene, the FID
//! network. Palettes, training presets and the example scene are embedded (`labels`,
//! `train::config`, [`example_scene`]).
//!
//! A shipped file is named by its path inside the project (`weights/ycor-spade`) and looked
//! for under each data root in turn: `$SCENEPAINT_HOME`, the executable's folder, the Unix
//! install layout beside it (`../share/scenepaint`), the platform's data folder
//! (`~/.local/share/scenepaint`, `~/Library/Application Support/scenepaint`,
//! `%APPDATA%\scenepaint`), and last the working directory (a source checkout under
//! `cargo run`). `scenepaint --help` and the model picker list these roots.
use crate::labelmap::LabelMap;
use crate::labels::Palette;
use crate::Result;
use std::path::{Path, PathBuf};

/// Environment variable naming a data root that is searched first.
pub const HOME_ENV: &str = "SCENEPAINT_HOME";

/// The shipped models' folder, the default model and the example scene.
pub const MODELS_DIR: &str = "weights";
pub const DEFAULT_MODEL: &str = "weights/ycor-spade-256";
pub const EXAMPLE_SCENE: &str = "assets/examples/ycor-trail.png";
const EXAMPLE_SCENE_PNG: &[u8] = include_bytes!("../assets/examples/ycor-trail.png");
/// ImageNet VGG16 convolutions for the perceptual loss (CC BY 4.0; `weights/vgg16/SOURCE.md`).
pub const VGG16_WEIGHTS: &str = "weights/vgg16/vgg16_features_to_conv5_1.fp16.safetensors";

/// The example scene the painter opens with (a 2 KB ycor colour PNG built into the binary, so
/// it is there wherever the binary runs).
pub fn example_scene(palette: &Palette) -> Result<LabelMap> {
    crate::labelmap::read_label_map_bytes(Path::new(EXAMPLE_SCENE), EXAMPLE_SCENE_PNG, palette)
}

/// The data roots in search order (whether or not they exist).
pub fn data_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(home) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
        roots.push(PathBuf::from(home));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        roots.push(exe_dir.join("../share/scenepaint"));
        roots.push(exe_dir);
    }
    if let Some(data) = dirs::data_dir() {
        roots.push(data.join("scenepaint"));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    roots
}

/// `relative` under the first data root that has it.
pub fn find(relative: &str) -> Option<PathBuf> {
    data_roots()
        .into_iter()
        .map(|root| root.join(relative))
        .find(|path| path.exists())
}

/// `relative` under every root that has it, each folder once (the model picker lists the
/// models of all of them).
pub fn find_all(relative: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for path in data_roots().into_iter().map(|root| root.join(relative)) {
        let canonical = path.canonicalize().ok();
        let known = found.iter().any(|f| f.canonicalize().ok() == canonical);
        if path.exists() && !known {
            found.push(path);
        }
    }
    found
}

/// `relative` under the first root that has it, else as given (so an error names it).
pub fn find_or_given(relative: &str) -> PathBuf {
    find(relative).unwrap_or_else(|| PathBuf::from(relative))
}

/// One line per root, for `--help` and "not found" messages.
pub fn describe_roots() -> String {
    data_roots()
        .iter()
        .map(|root| format!("  {}", root.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The error text for a shipped file found under no root.
pub fn not_found(relative: &str, what: &str) -> String {
    format!(
        "{what} not found: {relative} is under none of the data folders (copy the project's \
         weights/ and assets/ into one of them, or set {HOME_ENV}):\n{}",
        describe_roots()
    )
}

/// [`not_found`] on one line (the painter's status bar).
pub fn not_found_line(relative: &str, what: &str) -> String {
    let text = not_found(relative, what);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_every_folder_and_the_remedy_on_one_line() {
        let line = not_found_line("weights/nothing-here", "the default model");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("the default model not found: weights/nothing-here"));
        for root in data_roots() {
            assert!(line.contains(&root.display().to_string()), "{line}");
        }
        assert!(line.contains(HOME_ENV), "{line}");
    }

    #[test]
    fn the_embedded_example_scene_is_the_shipped_file() {
        let palette = Palette::builtin("ycor").unwrap();
        let embedded = example_scene(&palette).unwrap();
        let file = crate::labelmap::read_label_map(EXAMPLE_SCENE, &palette).unwrap();
        assert_eq!(embedded, file);
        assert_eq!((embedded.width, embedded.height), (512, 256));
        assert!(
            embedded.ids.iter().any(|&id| id != embedded.ids[0]),
            "a painting"
        );
    }

    #[test]
    fn the_environment_root_comes_first_and_the_working_directory_last() {
        let roots = data_roots();
        assert_eq!(roots.last(), std::env::current_dir().ok().as_ref());
        let exe_dir = std::env::current_exe().unwrap();
        assert!(roots.iter().any(|r| Some(r.as_path()) == exe_dir.parent()));
        // The crate root is the test's working directory: the shipped model is found there.
        assert!(find(DEFAULT_MODEL).is_some_and(|p| p.join("model.json").is_file()));
        assert!(find("weights/no-such-model").is_none());
        let message = not_found("weights/no-such-model", "model");
        assert!(message.contains(HOME_ENV) && message.contains("no-such-model"));
    }
}
