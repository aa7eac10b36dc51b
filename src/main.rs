//! Command line: the painter GUI by default, plus headless subcommands.
use clap::{Parser, Subcommand};

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
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            scenepaint::app::run_painter(scenepaint::app::AppOptions::default())?;
            Ok(())
        }
    }
}
