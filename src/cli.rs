//! Headless subcommands around model bundles: `bundle` (published checkpoint -> bundle),
//! `translate` (label maps -> images). Thin wrappers over the
//! library so the GUI and the CLI run the same code.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle_core::Device;
use clap::Args;

use scenepaint::labelmap::{read_label_map_with, UnknownColour};
use scenepaint::labels::Palette;
use scenepaint::nets::bundle::{Model, NetKind, PaletteRef, TranslateOptions};
use scenepaint::nets::published;
use scenepaint::nets::published::bundle_checkpoint;

#[derive(Args, Debug)]
pub struct BundleArgs {
    /// Generator checkpoint (`latest_net_G.pth` or a `.safetensors` state dict).
    #[arg(long)]
    pub pth: PathBuf,
    /// pix2pix_unet, pix2pixhd_global, pix2pixhd_local or spade (default: from the options'
    /// `netG`).
    #[arg(long)]
    pub net: Option<String>,
    /// The published options: `opt.txt` / `train_opt.txt` as the repos write them, or a JSON
    /// object (default: the option file beside the checkpoint).
    #[arg(long)]
    pub options: Option<PathBuf>,
    /// A built-in palette name, or a palette JSON file (stored inline in the bundle); default:
    /// the palette of the options' `dataset_mode` (ade20k, coco, cityscapes).
    #[arg(long)]
    pub palette: Option<String>,
    /// The bundle directory to write (absent or empty unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Write over an existing bundle (or other files) in --out.
    #[arg(long)]
    pub force: bool,
    /// SPADE VAE style encoder checkpoint (default: `latest_net_E.pth` beside `--pth`, if any).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StyleColoursArgs {
    /// The SPADE VAE bundle to give `style_colours.json`.
    #[arg(long)]
    pub model: PathBuf,
    /// The dataset it was trained on: its photos, less the held-out pairs that model.json
    /// records, are what random styles take their colour and light from.
    #[arg(long)]
    pub data: PathBuf,
}

#[derive(Args, Debug)]
pub struct TranslateArgs {
    /// Bundle directory (model.json + generator.safetensors); default: the shipped
    /// `weights/ycor-spade`, found in the data folders (`scenepaint --help`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A label map PNG, or a directory of them.
    #[arg(long)]
    pub input: PathBuf,
    /// The output PNG, or a directory (created) for a directory input; never an input.
    #[arg(long)]
    pub output: PathBuf,
    /// Overwrite output images that already exist.
    #[arg(long)]
    pub force: bool,
    /// Seed of the random style (SPADE VAE models).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Map colours that are not the palette's (e.g. a JPEG's) to the nearest class.
    #[arg(long)]
    pub nearest: bool,
    /// A photo whose style to copy (SPADE VAE models).
    #[arg(long)]
    pub style: Option<PathBuf>,
    /// Keep the generator's own colours: a style (seed or --style photo) does not set the
    /// image's colour and light from a photo (`style_colours.json`).
    #[arg(long)]
    pub generator_colours: bool,
}

#[derive(Args, Debug)]
pub struct ReferenceArgs {
    /// Folder of reference cases (CASE.json + CASE.io.safetensors [+ weights]).
    #[arg(long, default_value = "../shared/reference")]
    pub dir: PathBuf,
    /// cpu, cuda:N or metal:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs every reference case on a device: one line per output, an error when any fails.
pub fn run_reference(args: &ReferenceArgs) -> anyhow::Result<()> {
    use scenepaint::nets::reference::{list_cases, load_case, run_case_on};
    let device = crate::cli_train::parse_device(&args.device)?;
    let cases = list_cases(&args.dir)?;
    if cases.is_empty() {
        bail!("{}: no reference cases", args.dir.display());
    }
    let (mut checked, mut failures) = (0, Vec::new());
    for path in &cases {
        let outcome =
            load_case(path).and_then(|case| Ok((run_case_on(path, &case, &device)?, case)));
        let (comparisons, case) = match outcome {
            Ok(done) => done,
            Err(e) => {
                println!("FAIL {}: {e}", path.display());
                failures.push(path.display().to_string());
                continue;
            }
        };
        for c in &comparisons {
            let rel = c.rel_l2()?;
            let pass = rel <= c.tolerance_rel_l2;
            println!(
                "{} {:<28} {:<40} rel_l2 {rel:.3e} (tol {:.0e}) on {}",
                if pass { "ok  " } else { "FAIL" },
                case.case,
                c.output,
                c.tolerance_rel_l2,
                args.device
            );
            checked += 1;
            if !pass {
                failures.push(format!("{} / {}", case.case, c.output));
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {checked} reference outputs failed on {}: {}",
            failures.len(),
            args.device,
            failures.join(", ")
        );
    }
    println!(
        "all {checked} outputs of {} cases match on {}",
        cases.len(),
        args.device
    );
    Ok(())
}

fn palette_ref(arg: &str) -> anyhow::Result<PaletteRef> {
    let path = Path::new(arg);
    if path.extension().is_some_and(|e| e == "json") {
        return Ok(PaletteRef::inline(&Palette::load(path)?)?);
    }
    Palette::builtin(arg)?;
    Ok(PaletteRef {
        name: arg.to_string(),
        inline: None,
    })
}

pub fn run_bundle(args: &BundleArgs) -> anyhow::Result<()> {
    if !args.pth.is_file() {
        bail!("{}: no such checkpoint file", args.pth.display());
    }
    scenepaint::outputs::check_fresh_dir(&args.out, args.force)?;
    let options_path = match &args.options {
        Some(path) => path.clone(),
        None => published::options_beside(&args.pth).with_context(|| {
            format!(
                "no option file ({}) beside {}: pass --options",
                published::OPTION_FILE_NAMES.join(", "),
                args.pth.display()
            )
        })?,
    };
    let options = published::read_options(&options_path)?;
    let net: NetKind = match &args.net {
        Some(name) => name.parse()?,
        None => published::net_from_options(&options)
            .with_context(|| format!("{}: no known netG: pass --net", options_path.display()))?,
    };
    let palette = match (&args.palette, published::palette_from_options(&options)) {
        (Some(name), _) => name.as_str(),
        (None, Some(name)) => name,
        (None, None) => bail!(
            "{}: the dataset is not one with a built-in palette: pass --palette",
            options_path.display()
        ),
    };
    let encoder = args
        .encoder
        .clone()
        .or_else(|| published::encoder_beside(&args.pth));
    let manifest = bundle_checkpoint(
        &args.pth,
        encoder.as_deref(),
        net,
        &options,
        palette_ref(palette)?,
        &args.out,
    )?;
    if let Some(encoder) = &encoder {
        println!("style encoder from {}", encoder.display());
    }
    println!(
        "wrote {} ({:?}, palette {})",
        args.out.display(),
        manifest.net,
        manifest.palette.name
    );
    Ok(())
}

/// (label map, output image) pairs for a file or directory input.
fn translate_jobs(input: &Path, output: &Path) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    if !input.is_dir() {
        let target = if output.is_dir() {
            output.join(input.file_name().context("input has no file name")?)
        } else {
            output.to_path_buf()
        };
        return Ok(vec![(input.to_path_buf(), target)]);
    }
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let mut jobs = Vec::new();
    for entry in std::fs::read_dir(input).with_context(|| format!("listing {}", input.display()))? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        {
            let name = path
                .file_name()
                .context("label map without a file name")?
                .to_owned();
            jobs.push((path, output.join(name)));
        }
    }
    jobs.sort();
    if jobs.is_empty() {
        bail!("{}: no .png label maps", input.display());
    }
    Ok(jobs)
}

pub fn run_translate(args: &TranslateArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let model_dir = match &args.model {
        Some(dir) => dir.clone(),
        None => scenepaint::shipped::find(scenepaint::shipped::DEFAULT_MODEL).ok_or_else(|| {
            anyhow::anyhow!(scenepaint::shipped::not_found(
                scenepaint::shipped::DEFAULT_MODEL,
                "the default model"
            ))
        })?,
    };
    let model = Model::load(&model_dir, &device)
        .with_context(|| format!("loading model {}", model_dir.display()))?;
    if let Some(why) = model.style_photo_unavailable() {
        if args.style.is_some() {
            bail!("--style: {why}");
        }
        eprintln!("note: {why}");
    }
    let style = match &args.style {
        Some(path) => Some(
            scenepaint::image_limits::open_limited(
                path,
                "style photo",
                scenepaint::image_limits::MAX_PHOTO_SIDE,
            )?
            .to_rgb8()
            .into(),
        ),
        None => None,
    };
    let options = TranslateOptions {
        seed: args.seed,
        style,
        generator_colours: args.generator_colours,
    };
    let style = model.prepare_style(&options)?;
    let jobs = translate_jobs(&args.input, &args.output)?;
    scenepaint::outputs::check_output_files(&jobs, args.force)?;
    // Every file that can be translated is; the failures are reported together at the end.
    let mut failures = Vec::new();
    for (input, output) in &jobs {
        let unknown = if args.nearest {
            UnknownColour::MapToNearest
        } else {
            UnknownColour::Error
        };
        let translated = read_label_map_with(input, &model.palette, unknown)
            .map(|(labels, _)| labels)
            .map_err(anyhow::Error::from)
            .and_then(|labels| {
                model
                    .translate_with(&labels, &style)
                    .with_context(|| format!("translating {}", input.display()))
            })
            .and_then(|image| {
                image
                    .save(output)
                    .with_context(|| format!("writing {}", output.display()))
            });
        match translated {
            Ok(()) => println!("{} -> {}", input.display(), output.display()),
            Err(e) => {
                eprintln!("{e:#}");
                failures.push(input.display().to_string());
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} label map(s) could not be translated: {}",
            failures.len(),
            jobs.len(),
            failures.join(", ")
        );
    }
    Ok(())
}

/// `scenepaint style-colours`: measures the training photos of a bundle's dataset and writes
/// `style_colours.json` into the bundle (for bundles written before training did it).
pub fn run_style_colours(args: &StyleColoursArgs) -> anyhow::Result<()> {
    use scenepaint::nets::style_colours::{StyleColours, STYLE_COLOURS_FILE};
    use scenepaint::train::{data::Dataset, validate};
    let model = Model::load(&args.model, &Device::Cpu)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    if !model.uses_style() {
        bail!(
            "{}: the model has no styles (only SPADE models with a VAE style encoder do)",
            args.model.display()
        );
    }
    let held_out = validate::held_out_keys(&model, &args.model)?;
    let dataset = Dataset::open(&args.data, Some(model.palette.clone()))?;
    let photos: Vec<(&str, &Path)> = dataset
        .photos()
        .filter(|(key, _)| !held_out.iter().any(|held| held == key))
        .collect();
    let (bank, unreadable) = StyleColours::of_photos(photos.iter().copied())?;
    for (path, why) in &unreadable {
        eprintln!("left out {}: {why}", path.display());
    }
    bank.write(&args.model)?;
    println!(
        "{}: colours of {} training photo(s) of {} ({} held-out pair(s) left out)",
        args.model.join(STYLE_COLOURS_FILE).display(),
        bank.photos.len(),
        args.data.display(),
        dataset.len() - photos.len()
    );
    Ok(())
}
