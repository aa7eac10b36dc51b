//! `scenepaint evaluate`: FID and KID of a model bundle on a dataset's pairs, or of one image
//! folder against another. A thin wrapper over `scenepaint::eval`, which the trainer uses too.
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use scenepaint::eval::{self, FidNetwork, PairChoice};
use scenepaint::nets::bundle::Model;
use scenepaint::nets::fast::InferencePath;
use scenepaint::train::{data::Dataset, validate};

use crate::cli_train::parse_size;

/// Which of a dataset's pairs to evaluate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pairs {
    /// The pairs the model's training run held out (listed in its model.json).
    HeldOut,
    /// Every pair of the dataset.
    All,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Model bundle to evaluate (with --data).
    #[arg(long, requires = "data", conflicts_with_all = ["real", "fake"])]
    model: Option<PathBuf>,
    /// Dataset whose label maps are translated and whose photos are the real set.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which pairs of --data: the bundle's held-out pairs or all of them.
    #[arg(long, value_enum, default_value_t = Pairs::HeldOut)]
    pairs: Pairs,
    /// Folder of real images (with --fake).
    #[arg(long, requires = "fake")]
    real: Option<PathBuf>,
    /// Folder of generated images (with --real).
    #[arg(long, requires = "real")]
    fake: Option<PathBuf>,
    /// Size WxH both sets are resized to first (default: 512 wide at the data's aspect; for
    /// folders whose images all share one size, that size).
    #[arg(long)]
    size: Option<String>,
    /// The FID network, TorchScript `inception-2015-12-05.pt` (default: $SCENEPAINT_FID_NETWORK,
    /// weights/ beside the program or the sources).
    #[arg(long)]
    inception: Option<PathBuf>,
    /// Also measure how far the model's styles move the images' global colour: each label
    /// map translated with this many style seeds, against the photos' own spread (with
    /// --model; at least 2).
    #[arg(long, requires = "model")]
    styles: Option<usize>,
    /// Also measure whether every class shows: each class's colour contrast with its
    /// surroundings in the translations against the photos (with --model).
    #[arg(long, requires = "model")]
    classes: bool,
    /// Also score the held-out photos against as many other photos of --data: the level real
    /// photos reach at this many pairs, which a model's FID is read against (with --model and
    /// the held-out pairs).
    #[arg(long, requires = "model")]
    real_reference: bool,
    /// Random styles keep the generator's own colours, as if the bundle had no
    /// style_colours.json (with --model).
    #[arg(long, requires = "model")]
    generator_colours: bool,
    /// Score this many draws of the model's random styles (each label map in a new style
    /// seed per draw; draw 0 is the single evaluation's) and report their mean and range: one
    /// draw at a few dozen pairs moves FID by a few points (with --model).
    #[arg(long, requires = "model", default_value_t = 1)]
    draws: usize,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

pub fn run_evaluate(args: EvaluateArgs) -> anyhow::Result<()> {
    let size = args.size.as_deref().map(parse_size).transpose()?;
    let network_path = eval::find_network(args.inception.as_deref())?;
    let network = FidNetwork::load(&network_path, InferencePath::from_env())
        .with_context(|| format!("loading the FID network {}", network_path.display()))?;
    let mut progress = terminal_progress();
    let mut style = None;
    let mut classes = None;
    let mut reference = None;
    let mut draws = None;
    let scores = match (&args.model, &args.data, &args.real, &args.fake) {
        (Some(bundle), Some(data), None, None) => {
            let mut model = Model::load(bundle, &candle_core::Device::Cpu)
                .with_context(|| format!("loading model {}", bundle.display()))?;
            if args.generator_colours {
                model.set_style_colours(None);
            }
            let dataset = Dataset::open(data, Some(model.palette.clone()))?;
            let choice = match args.pairs {
                Pairs::HeldOut => {
                    PairChoice::Keys(validate::held_out_keys(&model, bundle).context(
                        "no pairs to evaluate by default: --pairs all uses every pair of --data",
                    )?)
                }
                Pairs::All => PairChoice::All,
            };
            if args.real_reference && matches!(choice, PairChoice::All) {
                bail!("--real-reference needs pairs left over: use it with the held-out pairs");
            }
            eval::draws::check_draws(&model, args.draws)
                .with_context(|| format!("evaluating {}", bundle.display()))?;
            let eval_size = eval::eval_size(&dataset, &choice, size)?;
            if let Some(styles) = args.styles {
                style = Some(eval::style::style_spread(
                    &model,
                    &dataset,
                    &choice,
                    styles,
                    &mut progress,
                )?);
            }
            if args.classes {
                classes = Some(eval::classes::class_contrasts(
                    &model,
                    &dataset,
                    &choice,
                    eval_size,
                    &mut progress,
                )?);
            }
            // The photos' features serve every draw and the real-photo level.
            let photos =
                eval::photo_features(&network, &dataset, &choice, eval_size, &mut progress)?;
            if args.real_reference {
                reference = Some(
                    eval::reference::real_reference(
                        &network,
                        &dataset,
                        &choice,
                        &photos,
                        eval_size,
                        &mut progress,
                    )?
                    .with_context(|| {
                        format!(
                            "{}: fewer other pairs than held-out ones to score real photos against",
                            data.display()
                        )
                    })?,
                );
            }
            let all = eval::draws::score_draws(
                &network,
                &model,
                &dataset,
                &choice,
                eval_size,
                &photos,
                args.draws,
                &mut progress,
            )
            .with_context(|| format!("evaluating {}", bundle.display()))?;
            let first = all.draws[0].scores;
            let scores = eval::Scores {
                fid: all.mean_fid(),
                kid: all.mean_kid(),
                ..first
            };
            if all.draws.len() > 1 {
                draws = Some(all);
            }
            scores
        }
        (None, None, Some(real), Some(fake)) => {
            eval::evaluate_folders(&network, real, fake, size, &mut progress)?
        }
        _ => bail!("give --model BUNDLE --data DIR, or --real DIR --fake DIR"),
    };
    if args.json {
        let mut report = serde_json::json!({
            "fid": scores.fid,
            "kid": scores.kid,
            "real_images": scores.real_images,
            "generated_images": scores.generated_images,
            "width": scores.width,
            "height": scores.height,
        });
        if let Some(style) = &style {
            report["style_spread"] = serde_json::json!({
                "styles": style.styles,
                "label_maps": style.label_maps,
                "style_spread": style.style_spread,
                "photo_spread": style.photo_spread,
                "ratio": style.ratio(),
            });
        }
        if let Some(classes) = &classes {
            report["classes"] = classes_json(classes);
        }
        if let Some(reference) = &reference {
            report["real_reference"] = serde_json::json!(reference);
        }
        if let Some(draws) = &draws {
            report["draws"] = draws_json(draws);
        }
        println!("{report}");
    } else {
        match &draws {
            Some(draws) => println!("{draws}"),
            None => println!("{scores}"),
        }
        if let Some(style) = &style {
            println!("{style}");
        }
        if let Some(classes) = &classes {
            print!("{classes}");
        }
        if let Some(reference) = &reference {
            println!(
                "real photos: FID {:.2}  KID {:.5} (the held-out photos against {} other photos \
                 of the data: the level of real photos at this many pairs)",
                reference.fid, reference.kid, reference.pairs
            );
        }
    }
    Ok(())
}

/// Each draw's seeds and scores (the report's `fid` and `kid` are their means).
fn draws_json(draws: &eval::draws::DrawScores) -> serde_json::Value {
    let (lowest, highest) = draws.fid_range();
    serde_json::json!({
        "fid_lowest": lowest,
        "fid_highest": highest,
        "each": draws.draws.iter().map(|d| serde_json::json!({
            "first_seed": d.first_seed,
            "fid": d.scores.fid,
            "kid": d.scores.kid,
        })).collect::<Vec<_>>(),
    })
}

fn classes_json(classes: &eval::classes::ClassContrasts) -> serde_json::Value {
    let rows: Vec<_> = classes
        .classes
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id, "name": c.name, "label_maps": c.label_maps, "coverage": c.coverage,
                "photo": c.photo, "generated": c.generated, "ratio": c.ratio(),
            })
        })
        .collect();
    serde_json::json!({
        "band_px": classes.band_px,
        "width": classes.size.0,
        "height": classes.size.1,
        "classes": rows,
    })
}

/// Progress on one terminal line (stderr), redrawn in place.
fn terminal_progress() -> impl FnMut(&str, usize, usize) {
    let started = std::time::Instant::now();
    move |what: &str, done: usize, total: usize| {
        eprint!(
            "\r{what}: {done}/{total}  ({:.0} s)          ",
            started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        if done == total {
            eprintln!();
        }
    }
}
