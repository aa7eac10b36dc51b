//! The `train`, `dataset` and `validate` subcommands: thin wrappers over `scenepaint::train`
//! (the GUI's training panel calls the same functions).
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use scenepaint::labels::Palette;
use scenepaint::train::config;
use scenepaint::train::data::inspect;
use scenepaint::train::trainer::{self, Event, Observer, Outcome, Progress, TrainRequest};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Dataset folder (any recognised layout; see `dataset inspect`).
    #[arg(long)]
    data: PathBuf,
    /// spade, pix2pixhd or pix2pix.
    #[arg(long, default_value = "spade")]
    net: String,
    /// Run folder: config, losses.jsonl, samples, checkpoint, model bundle.
    #[arg(long)]
    out: PathBuf,
    /// A preset (spade, spade-compact, spade-tiny, pix2pixhd, ...); default: the family's compact one.
    #[arg(long)]
    preset: Option<String>,
    /// A JSON training config (fields of the preset it overrides).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in --out from its checkpoint with its saved settings (--iters sets a
    /// new total).
    #[arg(long)]
    resume: bool,
    /// cpu, cuda:N or metal:N (a GPU build: scripts/build-cuda.sh).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Total iterations.
    #[arg(long)]
    iters: Option<u64>,
    /// Palette name or JSON file (default: the layout's).
    #[arg(long)]
    palette: Option<String>,
}

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Model bundle whose model.json lists held-out pairs.
    #[arg(long)]
    model: PathBuf,
    /// The dataset the model was trained on.
    #[arg(long)]
    data: PathBuf,
    /// How many held-out pairs to translate.
    #[arg(long, default_value_t = 6)]
    count: usize,
    /// Write the grid (label | generated | photo per row) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Style seed for SPADE VAE models.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Width of each tile in the grid, pixels (16 to 2048).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=2048))]
    tile_width: u32,
}

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Report layout, pairs, sizes, classes and every problem by file.
    Inspect {
        dir: PathBuf,
        #[arg(long)]
        palette: Option<String>,
    },
    /// Write a resized copy (labels nearest) with the same layout; labels stored at another
    /// resolution of the same shape as their photos are resized too, another shape stops it.
    Prepare {
        dir: PathBuf,
        /// WxH, e.g. 256x256.
        #[arg(long)]
        size: String,
        /// A folder outside DIR, absent or empty.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        palette: Option<String>,
        /// Write into --out even when it already holds files.
        #[arg(long)]
        force: bool,
    },
}

fn load_palette(spec: &Option<String>) -> anyhow::Result<Option<Palette>> {
    Ok(match spec {
        None => None,
        Some(s) if s.ends_with(".json") => Some(Palette::load(s)?),
        Some(name) => Some(Palette::builtin(name)?),
    })
}

/// `WxH`, each side 1 to [`scenepaint::image_limits::MAX_PHOTO_SIDE`] pixels.
pub fn parse_size(text: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = text
        .split_once('x')
        .context("size must be WxH, e.g. 256x256")?;
    let (w, h): (u32, u32) = (w.parse().context("width")?, h.parse().context("height")?);
    let max = scenepaint::image_limits::MAX_PHOTO_SIDE;
    if !(1..=max).contains(&w) || !(1..=max).contains(&h) {
        anyhow::bail!("size {text}: each side must be 1 to {max} pixels");
    }
    Ok((w, h))
}

pub fn parse_device(text: &str) -> anyhow::Result<candle_core::Device> {
    Ok(scenepaint::device::parse_device(text)?)
}

/// Ctrl+C raises the trainer's stop flag: it saves a checkpoint and exits cleanly. Uses the C
/// runtime's `signal` directly (no extra crate; the handler only stores an atomic).
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub static STOP: AtomicBool = AtomicBool::new(false);
    const SIGINT: i32 = 2;
    /// `kill`'s default signal (and a system shutdown's): treated like Ctrl+C.
    const SIGTERM: i32 = 15;

    extern "C" fn on_interrupt(_signal: i32) {
        STOP.store(true, Ordering::Relaxed);
    }

    extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    }

    pub fn install() {
        // SAFETY: the handler is async-signal-safe (one atomic store) and lives forever.
        unsafe {
            signal(SIGINT, on_interrupt);
            signal(SIGTERM, on_interrupt);
        }
    }
}

/// One progress line, rewritten in place.
#[derive(Default)]
struct ConsoleObserver {
    /// The dataset's classes, from the run's start (names the least visible class).
    palette: Option<scenepaint::labels::Palette>,
}

impl Observer for ConsoleObserver {
    fn on_progress(&mut self, p: &Progress) {
        let losses: Vec<String> = p
            .losses
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        eprint!(
            "\r[{}/{}] epoch {} | {} | {:.2} it/s | ETA {}   ",
            p.iteration,
            p.total,
            p.epoch,
            losses.join(" "),
            p.iters_per_s,
            trainer::human_duration(p.eta_s)
        );
    }

    fn on_event(&mut self, event: &Event) {
        match event {
            Event::Started {
                resumed_from,
                pairs,
                palette,
            } => {
                eprintln!("training on {pairs} pairs from iteration {resumed_from}");
                self.palette = Some(palette.clone());
            }
            Event::Bundle(path) => eprintln!("\nmodel bundle: {}", path.display()),
            Event::Evaluation(r) => eprintln!(
                "\nFID {:.2}  KID {:.5} at iteration {} ({} held-out pairs{}){}",
                r.fid,
                r.kid,
                r.iteration,
                r.pairs,
                if r.current_weights {
                    "; current weights, not the average"
                } else {
                    ""
                },
                r.least_visible_class.map_or(String::new(), |c| format!(
                    "; least visible class {} at {:.2} of the photos' contrast",
                    scenepaint::train::evaluation::class_label(self.palette.as_ref(), c.id),
                    c.ratio
                ))
            ),
            Event::RealReference(r) => eprintln!(
                "real photos against {} other photos of the data: FID {:.2}  KID {:.5} (the \
                 level a model's FID is read against at this many held-out pairs)",
                r.pairs, r.fid, r.kid
            ),
            Event::Skipped { file, why } => {
                eprintln!(
                    "\nskipped {} (the next pair took its place): {why}",
                    file.display()
                )
            }
            Event::Removed(path) => {
                eprintln!("removed {}, left by an interrupted run", path.display())
            }
            Event::Sample(_) | Event::Checkpoint(_) => {}
        }
    }
}

/// The run's settings from the flags (`train::config::resolve` decides).
fn train_config(args: &TrainArgs) -> anyhow::Result<config::Resolved> {
    let overrides = match &args.config {
        None => serde_json::Map::new(),
        Some(path) => config::read_overrides(path)?,
    };
    let origin = args
        .config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Ok(config::resolve(&config::ConfigChoice {
        net: args.net.parse()?,
        preset: args.preset.as_deref(),
        overrides,
        overrides_from: &origin,
        iters: args.iters,
        run_dir: &args.out,
        resume: args.resume,
    })?)
}

/// The command as typed (program name shortened to `scenepaint`), for the bundle's record.
fn command_line() -> String {
    let quoted = std::env::args().skip(1).map(|arg| {
        if arg.contains(char::is_whitespace) {
            format!("'{arg}'")
        } else {
            arg
        }
    });
    std::iter::once("scenepaint".to_string())
        .chain(quoted)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run_train(args: TrainArgs) -> anyhow::Result<()> {
    let resolved = train_config(&args)?;
    let request = TrainRequest {
        data: args.data.clone(),
        run_dir: args.out.clone(),
        config: resolved.config.clone(),
        resume: args.resume,
        device: parse_device(&args.device)?,
        palette: load_palette(&args.palette)?,
        command: Some(command_line()),
    };
    if request.resume {
        let ignored = resolved.ignored_on_resume()?;
        if !ignored.is_empty() {
            eprintln!(
                "note: --resume continues with the settings saved in {}; ignored:\n  {}",
                request.run_dir.join(trainer::CONFIG_FILE).display(),
                ignored.join("\n  ")
            );
        }
    }
    interrupt::install();
    match trainer::train(&request, &mut ConsoleObserver::default(), &interrupt::STOP)? {
        Outcome::Finished { iteration } => eprintln!("\nfinished at iteration {iteration}"),
        Outcome::Stopped { iteration } => {
            eprintln!("\nstopped at iteration {iteration}; checkpoint saved, --resume continues")
        }
        Outcome::Diverged { message, .. } => anyhow::bail!("\n{message}"),
    }
    Ok(())
}

pub fn run_dataset(command: DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::Inspect { dir, palette } => {
            let palette = load_palette(&palette)?;
            let report = inspect::inspect(&dir, palette.clone())?;
            let names = match palette {
                Some(p) => p,
                None => Palette::builtin(report.layout.palette_name())?,
            };
            print!("{}", report.to_text(&names));
            if !report.problems.is_empty() {
                anyhow::bail!("{} problem(s) found", report.problems.len());
            }
        }
        DatasetCommand::Prepare {
            dir,
            size,
            out,
            palette,
            force,
        } => {
            let (w, h) = parse_size(&size)?;
            let count = inspect::prepare(&dir, &out, (w, h), load_palette(&palette)?, force)?;
            println!("wrote {count} pairs at {w}x{h} to {}", out.display());
        }
    }
    Ok(())
}

pub fn run_validate(args: ValidateArgs) -> anyhow::Result<()> {
    use scenepaint::nets::bundle::{Model, TranslateOptions};
    use scenepaint::train::{data::Dataset, validate};
    let model = Model::load(&args.model, &candle_core::Device::Cpu)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let dataset = Dataset::open(&args.data, Some(model.palette.clone()))?;
    let keys = validate::held_out_keys(&model, &args.model)?;
    let options = TranslateOptions {
        seed: args.seed,
        ..TranslateOptions::default()
    };
    let result = validate::validate(
        &model,
        &dataset,
        &keys,
        args.count,
        args.tile_width,
        &options,
    )?;
    println!(
        "mean L1 to the photos over {} held-out pair(s) ({} held out in all): {:.4}",
        result.keys.len(),
        keys.len(),
        result.mean_l1
    );
    println!("pairs: {}", result.keys.join(" "));
    if let Some(out) = &args.out {
        result
            .grid
            .save(out)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("grid: {}", out.display());
    }
    Ok(())
}
