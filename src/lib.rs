//! scenepaint: paint a scene with class colours and let a GAN (pix2pix, pix2pixHD or SPADE)
//! turn it into a photo-like image. The library holds everything; `main.rs` is a thin CLI/GUI
//! front end so the UI and the headless subcommands call the same code.

pub mod app;
pub mod atomic_file;
pub mod bench;
pub mod bench_stroke;
pub mod device;
pub mod error;
pub mod eval;
pub mod heap;
pub mod image_formats;
pub mod image_limits;
pub mod infer;
pub mod labelmap;
pub mod labels;
pub mod live;
pub mod nets;
pub mod outputs;
pub mod paint;
pub mod rect;
pub mod shipped;
pub mod train;
pub use error::{Error, Result};
