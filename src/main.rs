//! Command line: the painter GUI by default, plus headless subcommands.
use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "scenepaint",
    version,
    about = "Paint a scene; a GAN turns it into a photo"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Build a model bundle from a published generator checkpoint.
    Bundle(cli::BundleArgs),
    /// Turn label maps into images with a model bundle.
    Translate(cli::TranslateArgs),
    /// Time generator forwards (random weights, batch 1).
    Bench(cli::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            scenepaint::app::run_painter(scenepaint::app::AppOptions::default())?;
            Ok(())
        }
        Some(Command::Bundle(args)) => cli::run_bundle(&args),
        Some(Command::Translate(args)) => cli::run_translate(&args),
        Some(Command::Bench(args)) => cli::run_bench(&args),
    }
}
