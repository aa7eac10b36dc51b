//! `scenepaint bench`: generator forward timings (batch 1, random weights, eval mode) on the
//! fast CPU path (`nets::fast`) and on the plain Candle networks in the same run: medians of
//! repeated runs after a warm-up, convolution FLOP/s (the dense network's count, from the
//! layers' counter) and the Candle / fast time ratio. SPADE cases get a painted-looking label
//! map (one-hot regions), as the painter sends; the `preview` cases time a whole
//! `Model::translate` (label map to RGB image), i.e. one live-preview frame.
//! Add a case with one entry in [`default_cases`].
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use crate::labelmap::LabelMap;
use crate::nets::bundle::{Generator, Model, ModelManifest, NetKind, TranslateOptions};
use crate::nets::encoding::{self, InputEncoding};
use crate::nets::fast::{FastGenerator, InferencePath};
use crate::nets::layers::count_conv_flops;
use crate::nets::spade_generator::gaussian_z;
use crate::nets::style_colours::{ColourStats, PhotoColours, StyleColours};
use crate::Result;

/// What a case feeds the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchInput {
    /// Uniform noise in [-1, 1] (pix2pix's colour image, pix2pixHD's input).
    Noise,
    /// One-hot label regions (Voronoi cells of a few seeds) over `classes` classes.
    LabelRegions { classes: usize },
}

/// One benchmarked generator: its family, options and input (channels, height, width).
#[derive(Debug, Clone)]
pub struct BenchCase {
    pub name: String,
    pub net: NetKind,
    pub options: serde_json::Value,
    pub input_chw: (usize, usize, usize),
    pub input: BenchInput,
    /// Time `Model::translate` (a live-preview frame) instead of the bare forward.
    pub preview: bool,
    /// A preview case's painting (height, width) where it differs from the model's size: the
    /// frame then includes shrinking the label map and enlarging the image, as in the painter.
    pub painting_hw: Option<(usize, usize)>,
}

/// The benchmark table: the published configurations (PyTorch timings in
/// `scripts/bench_pytorch.py`) and the shipped default's size.
pub fn default_cases() -> Vec<BenchCase> {
    let noise = |name: &str, net, options, input_chw| BenchCase {
        name: name.into(),
        net,
        options,
        input_chw,
        input: BenchInput::Noise,
        preview: false,
        painting_hw: None,
    };
    vec![
        // pix2pixHD reads 35 one-hot classes and the instance-edge map (Cityscapes); the
        // noise row times the same network on a dense input, where no lookup applies.
        BenchCase {
            input: BenchInput::LabelRegions { classes: 35 },
            ..noise(
                "pix2pixhd_global ngf64 512x256",
                NetKind::Pix2pixhdGlobal,
                pix2pixhd_global_options(),
                (36, 256, 512),
            )
        },
        noise(
            "pix2pixhd ngf64 512x256 noise input",
            NetKind::Pix2pixhdGlobal,
            pix2pixhd_global_options(),
            (36, 256, 512),
        ),
        noise(
            "pix2pix unet_256 ngf64 256x256",
            NetKind::Pix2pixUnet,
            json!({"input_nc": 3, "num_downs": 8, "ngf": 64, "norm": "batch"}),
            (3, 256, 256),
        ),
        spade_case(64, 151),
        spade_case(64, 10),
        spade_case(16, 10),
        default_spade_case((128, 256), false),
        default_spade_case((64, 128), false),
        default_spade_case((128, 256), true),
        default_preview_on_painting((128, 256), (256, 512)),
        default_spade_case((64, 128), true),
        most_upsampling_preview((256, 512)),
    ]
}

/// pix2pixHD's published global generator (Cityscapes input: 35 classes + edge map).
/// One timed repetition of a benchmark case.
type TimedRun<'a> = Box<dyn FnMut() -> Result<()> + 'a>;

fn pix2pixhd_global_options() -> serde_json::Value {
    json!({"input_nc": 36, "ngf": 64, "n_downsample_global": 4, "n_blocks_global": 9})
}

/// SPADE at 256x256 without VAE (the ADE20K configuration: syncbatch SPADE, spectral norm,
/// `mlp_shared` width 128) on a `label_nc`-class label map.
fn spade_case(ngf: usize, label_nc: usize) -> BenchCase {
    BenchCase {
        name: format!("spade ngf{ngf} label_nc{label_nc} 256x256"),
        net: NetKind::Spade,
        options: json!({
            "ngf": ngf, "label_nc": label_nc, "contain_dontcare_label": false,
            "no_instance": true, "use_vae": false, "crop_size": 256, "aspect_ratio": 1.0,
            "num_upsampling_layers": "normal", "norm_G": "spectralspadesyncbatch3x3",
        }),
        input_chw: (label_nc, 256, 256),
        input: BenchInput::LabelRegions { classes: label_nc },
        preview: false,
        painting_hw: None,
    }
}

/// The shipped default's architecture (ngf 16, spade_hidden_nc 32, label_nc 9, no instance
/// map, instance-norm spectral SPADE, VAE z 256) at `(height, width)` with aspect ratio 2.
pub fn default_spade_case((height, width): (usize, usize), preview: bool) -> BenchCase {
    let what = if preview { "preview" } else { "spade" };
    BenchCase {
        name: format!("{what} default ngf16 h32 {width}x{height}"),
        net: NetKind::Spade,
        options: json!({
            "ngf": 16, "spade_hidden_nc": 32, "label_nc": 9, "contain_dontcare_label": false,
            "no_instance": true, "use_vae": true, "z_dim": 256, "crop_size": width,
            "aspect_ratio": width as f64 / height as f64, "num_upsampling_layers": "normal",
            "norm_G": "spectralspadeinstance3x3",
        }),
        input_chw: (9, height, width),
        input: BenchInput::LabelRegions { classes: 9 },
        preview,
        painting_hw: None,
    }
}

/// A preview frame of the default's architecture grown to generate at `(height, width)` the
/// published way (`num_upsampling_layers: most`: a latent grid 1/128 of the width, the middle
/// blocks a level apart, and a last block `up_4` of ngf/2 channels at the full size): what a
/// 512x256 default would cost the painter.
pub fn most_upsampling_preview(hw: (usize, usize)) -> BenchCase {
    let mut case = default_spade_case(hw, true);
    case.name = case.name.replace("default", "most-upsampling");
    case.options["num_upsampling_layers"] = json!("most");
    case
}

/// A preview frame of the default's architecture at `model_hw` on a painting of `painting_hw`
/// (the shipped example scene is 512x256 for a 256x128 model).
pub fn default_preview_on_painting(
    model_hw: (usize, usize),
    (height, width): (usize, usize),
) -> BenchCase {
    let case = default_spade_case(model_hw, true);
    BenchCase {
        name: format!("{} on {width}x{height}", case.name),
        painting_hw: Some((height, width)),
        ..case
    }
}

/// The label map a preview case translates: label regions at the painting's size.
fn preview_label_map(case: &BenchCase) -> Result<LabelMap> {
    let (c, model_h, model_w) = case.input_chw;
    let (h, w) = case.painting_hw.unwrap_or((model_h, model_w));
    LabelMap::from_ids(w as u32, h as u32, region_label_ids(h, w, c, 2))
}

/// One photo's colour statistics (a typical ycor photo's), so that a preview frame of a
/// model with styles includes the colour transfer as the painter's does.
fn bench_style_colours() -> StyleColours {
    StyleColours {
        space: "bench".into(),
        photos: vec![PhotoColours {
            key: "bench".into(),
            stats: ColourStats {
                mean: [-0.15, -0.02, -0.01],
                std: [0.5, 0.04, 0.04],
            },
        }],
    }
}

/// The measurement of one case.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub name: String,
    /// The fast path (the default on the CPU).
    pub median_ms: f64,
    pub min_ms: f64,
    pub runs: usize,
    /// Convolution FLOPs of one dense forward (what the Candle layers compute).
    pub conv_gflop: f64,
    /// `conv_gflop` over the fast path's median time.
    pub gflop_per_s: f64,
    /// The plain Candle networks, measured in the same run (absent with `--no-candle`).
    pub candle_median_ms: Option<f64>,
    /// `candle_median_ms / median_ms`.
    pub speedup: Option<f64>,
    pub threads: usize,
}

/// Seeded label ids: each pixel takes the class of the nearest of eight random seeds.
pub fn region_label_ids(height: usize, width: usize, classes: usize, seed: u64) -> Vec<u16> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let seeds: Vec<(f32, f32, u16)> = (0..8)
        .map(|_| {
            let y = rng.random_range(0.0..height as f32);
            let x = rng.random_range(0.0..width as f32);
            (y, x, rng.random_range(0..classes.max(1)) as u16)
        })
        .collect();
    (0..height * width)
        .map(|p| {
            let (y, x) = ((p / width) as f32, (p % width) as f32);
            let distance = |s: &(f32, f32, u16)| (s.0 - y).powi(2) + (s.1 - x).powi(2);
            seeds
                .iter()
                .min_by(|a, b| distance(a).total_cmp(&distance(b)))
                .map_or(0, |s| s.2)
        })
        .collect()
}

fn case_input(case: &BenchCase, device: &Device) -> Result<Tensor> {
    let (c, h, w) = case.input_chw;
    match case.input {
        BenchInput::Noise => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let values: Vec<f32> = (0..c * h * w)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            Ok(Tensor::from_vec(values, (1, c, h, w), device)?)
        }
        BenchInput::LabelRegions { classes } => {
            let ids = region_label_ids(h, w, classes, 2);
            let encoding = InputEncoding::one_hot(classes, c > classes);
            encoding::encode(&ids, w, h, &encoding, |_| [0; 3], device)
        }
    }
}

/// Median and minimum of `runs` timed calls after one warm-up.
fn time_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64, usize)> {
    f()?;
    let mut times_ms = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times_ms.sort_by(f64::total_cmp);
    Ok((median(&times_ms), times_ms[0], times_ms.len()))
}

/// A GPU has no fast path: the Candle network's forward, synchronised after each run, is the
/// row's time (named with the device).
fn gpu_case(
    case: &BenchCase,
    runs: usize,
    generator: &Generator,
    (input, z): (&Tensor, Option<&Tensor>),
    flops: u64,
    device: &Device,
) -> Result<BenchResult> {
    let (median_ms, min_ms, runs_done) = time_ms(runs, || {
        generator.forward(input, z)?;
        Ok(device.synchronize()?)
    })?;
    let conv_gflop = flops as f64 / 1e9;
    Ok(BenchResult {
        name: format!("{} [{}]", case.name, crate::device::device_name(device)),
        median_ms,
        min_ms,
        runs: runs_done,
        conv_gflop,
        gflop_per_s: conv_gflop / (median_ms / 1e3),
        candle_median_ms: None,
        speedup: None,
        threads: rayon::current_num_threads(),
    })
}

/// Times `case` on the fast path and, with `with_candle`, on the Candle networks; on a GPU,
/// the Candle network alone.
pub fn run_case(
    case: &BenchCase,
    runs: usize,
    with_candle: bool,
    device: &Device,
) -> Result<BenchResult> {
    let (generator, _weights) = Generator::random(case.net, &case.options, device)?;
    let input = case_input(case, device)?;
    let z = match generator.spade_options().filter(|o| o.use_vae) {
        Some(o) => Some(gaussian_z(1, o.z_dim, 3, device)?),
        None => None,
    };
    let (counted, flops) = count_conv_flops(|| generator.forward(&input, z.as_ref()));
    counted?;
    if !device.is_cpu() {
        return gpu_case(case, runs, &generator, (&input, z.as_ref()), flops, device);
    }
    let (fast_run, candle_run): (TimedRun, TimedRun) = if case.preview {
        let labels = preview_label_map(case)?;
        let c = case.input_chw.0;
        let manifest = ModelManifest::in_memory(
            case.net,
            case.options.clone(),
            "landscape",
            InputEncoding::one_hot(c, false),
        );
        let mut fast = Model::from_generator(
            manifest.clone(),
            generator.clone(),
            device,
            InferencePath::Auto,
        )?;
        let mut plain = Model::from_generator(manifest, generator, device, InferencePath::Candle)?;
        // A frame of a model with styles includes giving it the style's colours.
        for model in [&mut fast, &mut plain] {
            model.set_style_colours(Some(bench_style_colours()));
        }
        let (l1, l2) = (labels.clone(), labels);
        let options = TranslateOptions::default();
        let o2 = options.clone();
        (
            Box::new(move || fast.translate(&l1, &options).map(drop)),
            Box::new(move || plain.translate(&l2, &o2).map(drop)),
        )
    } else {
        let fast = FastGenerator::from_generator(&generator)?;
        let (i1, z1) = (input.clone(), z.clone());
        (
            Box::new(move || Ok(fast.forward(&i1, z1.as_ref()).map(drop)?)),
            Box::new(move || generator.forward(&input, z.as_ref()).map(drop)),
        )
    };
    let (median_ms, min_ms, runs_done) = time_ms(runs, fast_run)?;
    let candle_median_ms = if with_candle {
        // Random weights are variables, which route convolutions to the fast training op
        // (`nets::fast::train_conv`); the baseline is Candle's own ops throughout.
        use crate::nets::fast::training_path::{set_training_path, TrainingPath};
        set_training_path(Some(TrainingPath::Candle));
        let timed = time_ms(runs, candle_run);
        set_training_path(None);
        Some(timed?.0)
    } else {
        None
    };
    let conv_gflop = flops as f64 / 1e9;
    Ok(BenchResult {
        name: case.name.clone(),
        median_ms,
        min_ms,
        runs: runs_done,
        conv_gflop,
        gflop_per_s: conv_gflop / (median_ms / 1e3),
        candle_median_ms,
        speedup: candle_median_ms.map(|c| c / median_ms),
        threads: rayon::current_num_threads(),
    })
}

/// The median of sorted values.
pub(crate) fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// One line of the human-readable table.
pub fn format_row(result: &BenchResult) -> String {
    let candle = match (result.candle_median_ms, result.speedup) {
        (Some(ms), Some(x)) => format!("candle {ms:>8.1} ms  x{x:>5.2}"),
        _ => "candle        -".into(),
    };
    format!(
        "{:<44} {:>8.1} ms (min {:>8.1}, {} runs) {:>7.2} GFLOP {:>6.1} GFLOP/s  {candle}",
        result.name,
        result.median_ms,
        result.min_ms,
        result.runs,
        result.conv_gflop,
        result.gflop_per_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), 3.0);
    }

    #[test]
    fn flop_count_matches_the_analytic_conv_count() {
        // A global generator with one down/up level: count the MACs by hand.
        let case = BenchCase {
            name: "tiny".into(),
            net: NetKind::Pix2pixhdGlobal,
            options: json!({"input_nc": 2, "output_nc": 3, "ngf": 4, "n_downsample_global": 1, "n_blocks_global": 1}),
            input_chw: (2, 8, 8),
            input: BenchInput::Noise,
            preview: false,
            painting_hw: None,
        };
        let result = run_case(&case, 1, true, &Device::Cpu).unwrap();
        let px = 64.0;
        let macs = px * 4.0 * 2.0 * 49.0      // conv7 2->4 at 8x8
            + px / 4.0 * 8.0 * 4.0 * 9.0      // conv3 s2 4->8 at 4x4
            + 2.0 * px / 4.0 * 8.0 * 8.0 * 9.0 // res block: two conv3 8->8 at 4x4
            + px / 4.0 * 8.0 * 4.0 * 9.0      // conv transpose 8->4 from 4x4 (per input pixel)
            + px * 3.0 * 4.0 * 49.0; // conv7 4->3 at 8x8
        assert!(
            (result.conv_gflop * 1e9 - 2.0 * macs).abs() < 0.5,
            "{} vs {}",
            result.conv_gflop * 1e9,
            2.0 * macs
        );
        assert!(result.median_ms > 0.0 && result.gflop_per_s > 0.0);
        assert!(result.candle_median_ms.is_some_and(|ms| ms > 0.0));
    }

    #[test]
    fn preview_case_translates_a_label_map() {
        let mut case = default_spade_case((32, 64), true);
        case.options["ngf"] = json!(2);
        case.options["spade_hidden_nc"] = json!(4);
        let result = run_case(&case, 1, false, &Device::Cpu).unwrap();
        assert!(result.median_ms > 0.0 && result.candle_median_ms.is_none());
        let ids = region_label_ids(32, 64, 9, 2);
        assert!(ids.iter().all(|&i| i < 9));
        let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
        assert!(distinct.len() > 1, "the label map must have regions");
    }

    #[test]
    fn the_most_upsampling_case_generates_at_its_size_with_a_block_more() {
        let shrink = |mut case: BenchCase| {
            case.options["ngf"] = json!(2);
            case.options["spade_hidden_nc"] = json!(4);
            case
        };
        let most = shrink(most_upsampling_preview((128, 256)));
        let normal = shrink(default_spade_case((128, 256), true));
        assert_eq!(most.name, "preview most-upsampling ngf16 h32 256x128");
        let image = |case: &BenchCase| {
            let (generator, _) = Generator::random(case.net, &case.options, &Device::Cpu).unwrap();
            let input = case_input(case, &Device::Cpu).unwrap();
            let z = gaussian_z(1, 256, 3, &Device::Cpu).unwrap();
            let (image, flops) = count_conv_flops(|| generator.forward(&input, Some(&z)));
            (image.unwrap().dims().to_vec(), flops)
        };
        let ((most_dims, most_flops), (normal_dims, normal_flops)) = (image(&most), image(&normal));
        assert_eq!(most_dims, [1, 3, 128, 256]);
        assert_eq!(normal_dims, most_dims);
        // up_4 at the full size (and the middle blocks at coarser levels) changes the work.
        assert_ne!(most_flops, normal_flops);
    }

    #[test]
    fn a_preview_on_a_painting_translates_the_paintings_size() {
        let own = default_spade_case((16, 32), true);
        let painting = default_preview_on_painting((16, 32), (256, 512));
        assert_eq!(painting.name, format!("{} on 512x256", own.name));
        assert_eq!(
            painting.input_chw, own.input_chw,
            "the model's size is unchanged"
        );
        let map = preview_label_map(&painting).unwrap();
        assert_eq!((map.width, map.height), (512, 256));
        let map = preview_label_map(&own).unwrap();
        assert_eq!((map.width, map.height), (32, 16));
    }
}
