//! The training panel's progress: where the run stands as a sentence, the loss and FID
//! curves, the latest sample grid and the checkpoints written.
use super::training_panel::TrainingPanel;
use crate::train::trainer::Outcome;
use std::path::Path;

/// How a finished run reads in the panel.
pub fn outcome_sentence(outcome: &Outcome, run_dir: &Path) -> String {
    match outcome {
        Outcome::Finished { iteration } => format!(
            "Finished after {iteration} iterations; the model is in {}.",
            run_dir.join("model").display()
        ),
        Outcome::Stopped { iteration } => format!(
            "Stopped at iteration {iteration}; its checkpoint is saved (tick \
             'Continue from its checkpoint' to go on)."
        ),
        Outcome::Diverged { message } => format!(
            "Stopped: the training diverged ({message}); nothing after the last checkpoint \
             was kept."
        ),
    }
}

impl TrainingPanel {
    pub(super) fn progress(&mut self, ui: &mut egui::Ui) {
        let Some(run) = &self.run else {
            return;
        };
        if let Some(p) = &run.last {
            ui.label(format!(
                "iteration {}/{}  epoch {}  {:.2} it/s  ETA {}",
                p.iteration,
                p.total,
                p.epoch,
                p.iters_per_s,
                crate::train::trainer::human_duration(p.eta_s)
            ));
        }
        let at = run.last.as_ref().map(|p| p.iteration);
        match &run.outcome {
            Some(Ok(outcome)) => ui.label(outcome_sentence(outcome, &self.run_dir)),
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("Training failed: {e}"))
            }
            None if run.is_paused() => ui.label(match at {
                Some(iteration) => format!("Paused at iteration {iteration}."),
                None => "Paused before the first iteration.".to_string(),
            }),
            None => ui.label(match at {
                Some(_) => "Training…",
                None => "Starting: loading the dataset and building the networks…",
            }),
        };
        if let Some(last) = run.skipped.last() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} unreadable pair(s) skipped so far; the latest: {last}",
                    run.skipped.len()
                ),
            );
        }
        super::loss_plot::show(ui, &run.losses);
        super::loss_plot::show_fid(
            ui,
            &run.evaluations,
            run.palette.as_ref(),
            run.real_reference,
        );
        self.sample(ui);
        let Some(run) = &self.run else {
            return;
        };
        ui.label(format!("Checkpoints written: {}", run.checkpoints.len()));
        for (iteration, path) in run.checkpoints.iter().rev().take(3) {
            ui.small(format!("iteration {iteration}: {}", path.display()));
        }
    }

    fn sample(&mut self, ui: &mut egui::Ui) {
        let Some((counter, path)) = self.run.as_ref().and_then(|r| r.sample.clone()) else {
            return;
        };
        if self
            .sample_texture
            .as_ref()
            .is_none_or(|(n, _)| *n != counter)
        {
            let limit = crate::image_limits::MAX_PHOTO_SIDE;
            if let Ok(image) = crate::image_limits::open_limited(&path, "sample", limit) {
                let rgb = image.to_rgb8();
                let size = [rgb.width() as usize, rgb.height() as usize];
                let colour = egui::ColorImage::from_rgb(size, rgb.as_raw());
                let texture = ui
                    .ctx()
                    .load_texture("train-sample", colour, Default::default());
                self.sample_texture = Some((counter, texture));
            }
        }
        if let Some((_, texture)) = &self.sample_texture {
            ui.label("Latest sample (label | generated | photo)");
            let size = texture.size_vec2();
            let scale = (ui.available_width() / size.x).min(2.0);
            ui.add(egui::Image::new((texture.id(), size * scale)).alt_text("Latest sample"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_sentences() {
        let dir = Path::new("runs/x");
        let stopped = outcome_sentence(&Outcome::Stopped { iteration: 159 }, dir);
        assert!(
            stopped.starts_with("Stopped at iteration 159;"),
            "{stopped}"
        );
        let finished = outcome_sentence(&Outcome::Finished { iteration: 20 }, dir);
        assert!(finished.contains("20 iterations") && finished.contains("model"));
        let diverged = Outcome::Diverged {
            message: "g_gan is NaN".into(),
        };
        assert!(outcome_sentence(&diverged, dir).contains("g_gan is NaN"));
        assert!(!stopped.contains('{') && !finished.contains("Finished {"));
    }
}
