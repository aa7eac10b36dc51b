//! The library's error type. Every message names the file, tensor or value involved, what was
//! expected and what was found, so a user can act on it without a debugger.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cause is part of the message, not a `source`: shown as a chain, it printed twice.
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: cannot decode image: {message}")]
    Image { path: PathBuf, message: String },
    #[error("{path}: invalid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: missing tensor `{name}` (expected shape {expected:?}); {missing_count} tensor(s) missing in all")]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        missing_count: usize,
    },
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: {count} tensor(s) the network does not use (wrong options?), e.g. `{first}`")]
    UnexpectedTensors {
        path: PathBuf,
        count: usize,
        first: String,
    },
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error(transparent)]
    LabelMap(#[from] LabelMapError),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Fast(#[from] FastError),
    #[error("{0}")]
    Message(String),
    /// A loss or weight became NaN or infinite during training.
    #[error("{0}")]
    Diverged(String),
    /// The stop flag was raised inside an iteration, before anything of it was applied: the
    /// networks and optimizers are as they were when the iteration began.
    #[error("stopped on request")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Err(Interrupted)` once `stop` is raised.
pub fn check_stop(stop: &std::sync::atomic::AtomicBool) -> Result<()> {
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    Ok(())
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }
    pub fn msg(text: impl Into<String>) -> Self {
        Error::Message(text.into())
    }
}

/// Why the fast path could not build or run a network.
#[derive(Debug, thiserror::Error)]
pub enum FastError {
    #[error("fast CPU path: {what}: expected {expected}, found {found}")]
    Shape {
        what: String,
        expected: String,
        found: String,
    },
    #[error("fast CPU path: {0} is not supported")]
    Unsupported(String),
    #[error("fast CPU path: reading weights: {0}")]
    Candle(#[from] candle_core::Error),
}

impl FastError {
    pub fn shape(what: &str, expected: impl ToString, found: impl ToString) -> Self {
        Self::Shape {
            what: what.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// Why a label-map file could not be read as the palette's classes.
#[derive(Debug, thiserror::Error)]
pub enum LabelMapError {
    #[error("{}: {} colour(s) are not in palette '{palette}': {}.{} To use it anyway, map each colour to the nearest class (the painter's import offers it; `--nearest` on the command line).", path.display(), colours.len(), list_colours(colours), lossy_hint(path))]
    UnknownColours {
        path: PathBuf,
        palette: String,
        colours: Vec<([u8; 3], usize)>,
    },
    #[error("{}: {} id(s) are not classes of palette '{palette}': {}{}", path.display(), ids.len(), list_ids(ids), fitting_hint(fitting))]
    IdsOutsidePalette {
        path: PathBuf,
        palette: String,
        ids: Vec<(u16, usize)>,
        /// Built-in palettes that have every id of the map.
        fitting: Vec<String>,
    },
}

const LISTED_MAX: usize = 12;

/// For a JPEG label map: why its colours are not the palette's.
fn lossy_hint(path: &Path) -> &'static str {
    let jpeg = crate::image_formats::is_jpeg(path);
    if jpeg {
        " It is a JPEG: its compression altered the class colours (save label maps as PNG)."
    } else {
        ""
    }
}

fn fitting_hint(fitting: &[String]) -> String {
    if fitting.is_empty() {
        return String::new();
    }
    format!(
        ". Built-in palettes with all of this map's ids: {}; choose one (`--palette NAME`, or \
         the training panel's Dataset palette)",
        fitting.join(", ")
    )
}

fn list_colours(colours: &[([u8; 3], usize)]) -> String {
    list(
        colours
            .iter()
            .map(|([r, g, b], n)| format!("({r},{g},{b}) x {n} px")),
        colours.len(),
    )
}

fn list_ids(ids: &[(u16, usize)]) -> String {
    list(
        ids.iter().map(|(id, n)| format!("id {id} x {n} px")),
        ids.len(),
    )
}

fn list(items: impl Iterator<Item = String>, total: usize) -> String {
    let mut shown: Vec<String> = items.take(LISTED_MAX).collect();
    if total > LISTED_MAX {
        shown.push(format!("and {} more", total - LISTED_MAX));
    }
    shown.join(", ")
}
