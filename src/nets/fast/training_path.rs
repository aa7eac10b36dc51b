//! Which implementation trains on the CPU (issue 13): our kernels (the default) or Candle's
//! plain ops (`SCENEPAINT_TRAINING=candle`, the baseline `scenepaint bench --train` compares
//! against), and the thread settings that go with our kernels.
use std::sync::atomic::{AtomicU8, Ordering};

/// Environment variable that keeps training on Candle's plain ops: `SCENEPAINT_TRAINING=candle`.
pub const TRAINING_ENV: &str = "SCENEPAINT_TRAINING";

/// Which implementation trains on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingPath {
    /// Our kernels (the default).
    Fast,
    /// Candle's plain ops (the comparison baseline).
    Candle,
}

/// 0: from the environment; 1: fast; 2: Candle.
static PATH_OVERRIDE: AtomicU8 = AtomicU8::new(0);

/// Overrides the environment for the whole process (`scenepaint bench --train` times both
/// paths in one run); `None` goes back to the environment.
pub fn set_training_path(path: Option<TrainingPath>) {
    let code = match path {
        None => 0,
        Some(TrainingPath::Fast) => 1,
        Some(TrainingPath::Candle) => 2,
    };
    PATH_OVERRIDE.store(code, Ordering::Relaxed);
}

/// The path in use: the override, else `Candle` when `SCENEPAINT_TRAINING=candle`.
pub fn training_path() -> TrainingPath {
    match PATH_OVERRIDE.load(Ordering::Relaxed) {
        1 => TrainingPath::Fast,
        2 => TrainingPath::Candle,
        _ if std::env::var(TRAINING_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("candle")) => {
            TrainingPath::Candle
        }
        _ => TrainingPath::Fast,
    }
}

/// Candle's own elementwise thread pool (`CANDLE_NUM_THREADS`, default: all cores) competes
/// with the rayon pool our kernels run on; with its ops one thread, a spade-compact step at
/// 256x128 on 2 cores ran 8 % faster (0.74 against 0.68 iterations per second, three
/// alternating runs each). Sets it to 1 unless the user set it or chose the Candle path; call
/// it first in `main`, before any thread starts (Candle reads it once).
///
/// Also sets `RAYON_NUM_THREADS`, when unset, to the count rayon's global pool takes by
/// default (`available_parallelism`): without it, Candle's matmul asks for the core count on
/// every call and parses `/proc/cpuinfo` each time (0.6 % of a SPADE training step).
pub fn configure_candle_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() && training_path() == TrainingPath::Fast {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        if let Ok(threads) = std::thread::available_parallelism() {
            std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        }
    }
}
