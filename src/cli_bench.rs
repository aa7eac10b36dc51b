//! `scenepaint bench`: generator forward timings, training steps, the live preview during
//! strokes and the evaluation, each against its baseline measured in the same run. Thin
//! wrappers over the library's `bench`, `train::bench`, `bench_stroke` and `eval::bench`.
use std::path::PathBuf;

use anyhow::Context;
use candle_core::Device;
use clap::Args;

use scenepaint::bench;
use scenepaint::labels::Palette;
use scenepaint::nets::bundle::Model;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Print one JSON object per case instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Timed runs per case (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Only cases whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Skip the plain Candle measurement (no ratio column).
    #[arg(long)]
    pub no_candle: bool,
    /// Also time training steps: spade-compact at 256x256, the default model's configuration
    /// (ycor-spade-256: 256x128, batch 4), pix2pix-compact and pix2pixhd-compact at 128x128
    /// (`--filter spade` adds the published SPADE size): seconds per iteration, images per
    /// second, peak and resident memory, and the plain Candle trainer's ratio.
    #[arg(long)]
    pub train: bool,
    /// Training steps timed per case (after 2 warm-up steps).
    #[arg(long, default_value_t = 20)]
    pub train_steps: u64,
    /// A square training crop for every case instead of each case's own size, pixels.
    #[arg(long)]
    pub train_size: Option<u32>,
    /// Time the training steps of this config file (as `train --config` takes it, SPADE) in
    /// place of the built-in training cases (implies --train-only): how fast a run of it will go.
    #[arg(long, value_name = "FILE")]
    pub train_config: Option<PathBuf>,
    /// Only the training-step cases (implies --train).
    #[arg(long)]
    pub train_only: bool,
    /// Train on the first pairs of this dataset folder (as `train --data`, with its layout's
    /// palette; resized to each case's size) instead of synthetic blocky label maps: the fast
    /// path's SPADE modulation costs less on real scenes' larger regions.
    #[arg(long, value_name = "DIR")]
    pub train_data: Option<std::path::PathBuf>,
    /// Also time an evaluation (FID network features of two image sets, FID and KID).
    #[arg(long)]
    pub fid: bool,
    /// Only the evaluation case (implies --fid).
    #[arg(long)]
    pub fid_only: bool,
    /// Images per set for --fid.
    #[arg(long, default_value_t = 150)]
    pub fid_images: usize,
    /// Evaluation size WxH for --fid.
    #[arg(long, default_value = "512x272")]
    pub fid_size: String,
    /// The FID network for --fid (default: as `scenepaint evaluate` finds it).
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// Also time the live preview while brush strokes are painted: full frames, exact
    /// incremental frames and in-stroke frames, on the shipped SPADE models and on random
    /// SPADE models of the default's architecture (batch norm at 256x128 and 512x256,
    /// instance norm at 256x128).
    #[arg(long)]
    pub stroke: bool,
    /// Only the stroke cases (implies --stroke).
    #[arg(long)]
    pub stroke_only: bool,
    /// Strokes per stroke case (8 throttled events each).
    #[arg(long, default_value_t = 12)]
    pub strokes: usize,
    /// The in-stroke frames' tolerance (default: the painter's).
    #[arg(long)]
    pub stroke_tolerance: Option<f32>,
    /// In-stroke frames keep the levels this many times coarser than the output, or more
    /// (default: the painter's).
    #[arg(long)]
    pub stroke_freeze: Option<usize>,
    /// cpu, or a GPU (cuda:N, metal:N) for the generator cases: Candle's networks there,
    /// synchronised after each run.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn run_bench(args: &BenchArgs) -> anyhow::Result<()> {
    let device = crate::cli_train::parse_device(&args.device)?;
    let cases = bench::default_cases().into_iter().filter(|c| {
        args.filter
            .as_ref()
            .is_none_or(|f| c.name.contains(f.as_str()))
    });
    let train_only = args.train_only || args.train_config.is_some();
    let only_other = train_only || args.fid_only || args.stroke_only;
    if !args.json && !args.stroke_only {
        println!(
            "{} rayon threads (RAYON_NUM_THREADS), Candle's elementwise ops on {} (CANDLE_NUM_THREADS); times are medians, 'x' is Candle / fast",
            rayon::current_num_threads(),
            std::env::var("CANDLE_NUM_THREADS").unwrap_or_else(|_| "all".into())
        );
    }
    for case in cases.filter(|_| !only_other) {
        let result = bench::run_case(&case, args.runs, !args.no_candle, &device)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!("{}", bench::format_row(&result));
        }
    }
    if (args.train || train_only) && !args.fid_only && !args.stroke_only {
        run_train_bench(args, &device)?;
    }
    if (args.stroke || args.stroke_only) && !train_only && !args.fid_only {
        run_stroke_bench(args)?;
    }
    if (args.fid || args.fid_only) && !train_only && !args.stroke_only {
        let path = scenepaint::eval::find_network(args.inception.as_deref())?;
        let size = crate::cli_train::parse_size(&args.fid_size)?;
        let candle_images = if args.no_candle {
            0
        } else {
            args.runs.min(args.fid_images)
        };
        let result = scenepaint::eval::bench::run(&path, args.fid_images, size, candle_images)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!("{}", scenepaint::eval::bench::format(&result));
        }
    }
    Ok(())
}

fn run_train_bench(args: &BenchArgs, device: &Device) -> anyhow::Result<()> {
    let all = match &args.train_config {
        Some(path) => vec![scenepaint::train::bench::TrainCase::from_config_file(path)?],
        None => scenepaint::train::bench::train_cases(),
    };
    // An exact case name picks that case alone ("spade" is also part of "spade-compact");
    // without a filter the published-size `spade` (minutes per step) is left out.
    let exact = |f: &str| all.iter().any(|c| c.name == f);
    let cases = all.iter().filter(|c| match &args.filter {
        None => c.name != "spade",
        Some(f) if exact(f) => c.name == f.as_str(),
        Some(f) => c.name.contains(f.as_str()),
    });
    use scenepaint::nets::fast::training_path::{set_training_path, TrainingPath};
    // The fast path first: the peak memory (VmHWM) is the process's, so the plain run after it
    // reports the larger of the two.
    // On a GPU both names run Candle's ops: one row.
    let paths: &[TrainingPath] = if args.no_candle || !device.is_cpu() {
        &[TrainingPath::Fast]
    } else {
        &[TrainingPath::Fast, TrainingPath::Candle]
    };
    for case in cases {
        let preset = &case.name;
        let mut seconds = Vec::new();
        for &path in paths {
            set_training_path(Some(path));
            let result = scenepaint::train::bench::train_step(
                case,
                args.train_size,
                args.train_steps,
                device,
                args.train_data.as_deref(),
            );
            set_training_path(None);
            let result = result?;
            seconds.push(result.seconds_per_iter);
            if args.json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                println!("{}", scenepaint::train::bench::format_step_row(&result));
            }
        }
        if let [fast, candle] = seconds[..] {
            if !args.json {
                println!(
                    "  {preset}: plain Candle / fast = x{:.2}",
                    candle / fast.max(1e-12)
                );
            }
        }
    }
    Ok(())
}

/// The stroke cases: the shipped default model, then random-weight batch-norm SPADE models of
/// its architecture at two sizes, each on the example scene at the painter's 512x256.
fn run_stroke_bench(args: &BenchArgs) -> anyhow::Result<()> {
    let palette = Palette::builtin("ycor")?;
    let canvas = scenepaint::shipped::example_scene(&palette)?.resize_nearest(512, 256);
    let wanted = |name: &str| {
        args.filter
            .as_ref()
            .is_none_or(|f| name.contains(f.as_str()))
    };
    let mut models = Vec::new();
    // The default (batch-norm SPADE) and the earlier 128x64 instance-norm model.
    for shipped in [scenepaint::shipped::DEFAULT_MODEL, "weights/ycor-spade"] {
        let name = format!("stroke {shipped}");
        if let (Some(dir), true) = (scenepaint::shipped::find(shipped), wanted(&name)) {
            let model = Model::load(&dir, &Device::Cpu)
                .with_context(|| format!("loading {}", dir.display()))?;
            models.push((name, model));
        }
    }
    let random = [
        ("batch-norm", "spectralspadesyncbatch3x3", (128, 256)),
        ("batch-norm", "spectralspadesyncbatch3x3", (256, 512)),
        ("instance-norm", "spectralspadeinstance3x3", (128, 256)),
    ];
    for (norm_name, norm_g, (height, width)) in random {
        let name = format!("stroke random {norm_name} {width}x{height}");
        if !wanted(&name) {
            continue;
        }
        let case = bench::default_spade_case((height, width), true);
        let mut options = case.options.clone();
        options["norm_G"] = norm_g.into();
        let (generator, weights) =
            scenepaint::nets::bundle::Generator::random(case.net, &options, &Device::Cpu)?;
        // Seeded, so that the in-stroke error columns compare across runs and binaries.
        scenepaint::nets::seeded::seed_weights(&weights, 0)?;
        let manifest = scenepaint::nets::bundle::ModelManifest::in_memory(
            case.net,
            options,
            "ycor",
            scenepaint::nets::encoding::InputEncoding::one_hot(9, false),
        );
        let model = Model::from_generator(
            manifest,
            generator,
            &Device::Cpu,
            scenepaint::nets::fast::InferencePath::Auto,
        )?;
        models.push((name, model));
    }
    for (name, model) in models {
        let painter = scenepaint::nets::live_frames::STROKE_APPROXIMATION;
        let approximation = scenepaint::nets::fast::spade_incremental::Approximation {
            tolerance: args.stroke_tolerance.unwrap_or(painter.tolerance),
            frozen_from_factor: args.stroke_freeze.unwrap_or(painter.frozen_from_factor),
        };
        let result = scenepaint::bench_stroke::run(
            &name,
            &model,
            canvas.clone(),
            args.strokes,
            approximation,
        )?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!("{}", scenepaint::bench_stroke::format_row(&result));
        }
    }
    Ok(())
}
