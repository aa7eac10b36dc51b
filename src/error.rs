//! The library's error type. Every message names the file, tensor or value involved, what was
//! expected and what was found, so a user can act on it without a debugger.
use std::path::PathBuf;

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
    LabelMap(#[from] crate::labelmap::LabelMapError),
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
