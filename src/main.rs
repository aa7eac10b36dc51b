//! Command line: the painter GUI by default, plus headless subcommands. Each subcommand is a
//! thin wrapper over library code that the GUI uses too.
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;
mod cli_bench;
mod cli_eval;
mod cli_train;

#[derive(Parser)]
#[command(
    name = "scenepaint",
    version,
    about = "Paint a scene; a GAN turns it into a photo"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Painter: load this model bundle instead of the shipped default.
    #[arg(long)]
    model: Option<std::path::PathBuf>,
    /// Painter: open the training panel with this dataset folder.
    #[arg(long)]
    dataset: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Train a GAN on a paired dataset (headless, resumable).
    Train(cli_train::TrainArgs),
    /// Inspect or prepare a training dataset.
    #[command(subcommand)]
    Dataset(cli_train::DatasetCommand),
    /// Build a model bundle from a published generator checkpoint.
    Bundle(cli::BundleArgs),
    /// Translate a bundle's held-out pairs: mean L1 to the photos and a comparison grid.
    Validate(cli_train::ValidateArgs),
    /// Turn label maps into images with a model bundle.
    Translate(cli::TranslateArgs),
    /// Give a SPADE VAE bundle its training photos' colours, which random styles take.
    StyleColours(cli::StyleColoursArgs),
    /// Run the published networks' reference cases (../shared/reference) on a device.
    Reference(cli::ReferenceArgs),
    /// FID and KID of a model on a dataset's pairs, or of one image folder against another.
    Evaluate(cli_eval::EvaluateArgs),
    /// Time generator forwards (random weights, batch 1), and with --train SPADE training steps.
    Bench(cli_bench::BenchArgs),
}

/// The command line, with `--help` listing where shipped files are looked for (known only at
/// run time).
fn parse_with_data_folders() -> Cli {
    let data_folders = format!(
        "Shipped models, VGG16 weights and the example scene are looked for in these data \
         folders, in order (set {} to put one first):\n{}",
        scenepaint::shipped::HOME_ENV,
        scenepaint::shipped::describe_roots()
    );
    let matches = Cli::command().after_help(data_folders).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> anyhow::Result<()> {
    scenepaint::heap::reuse_freed_buffers();
    scenepaint::nets::fast::training_path::configure_candle_threads();
    let cli = parse_with_data_folders();
    match cli.command {
        None => {
            let mut options = scenepaint::app::AppOptions::with_shipped_content();
            if cli.model.is_some() {
                options.default_model = cli.model;
            }
            options.training_dataset = cli.dataset;
            scenepaint::app::run_painter(options)?;
            Ok(())
        }
        Some(Command::Train(args)) => cli_train::run_train(args),
        Some(Command::Dataset(command)) => cli_train::run_dataset(command),
        Some(Command::Bundle(args)) => cli::run_bundle(&args),
        Some(Command::Validate(args)) => cli_train::run_validate(args),
        Some(Command::Translate(args)) => cli::run_translate(&args),
        Some(Command::StyleColours(args)) => cli::run_style_colours(&args),
        Some(Command::Bench(args)) => cli_bench::run_bench(&args),
        Some(Command::Evaluate(args)) => cli_eval::run_evaluate(args),
        Some(Command::Reference(args)) => cli::run_reference(&args),
    }
}
