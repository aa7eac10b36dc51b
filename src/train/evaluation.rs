//! FID while training (`eval_every`): the run's bundle, as the painter and `scenepaint
//! evaluate` load it, is scored on the held-out pairs with `scenepaint::eval`; the photos'
//! features are computed once per run. Each evaluation is a line of `losses.jsonl`
//! (`{"iteration", "fid", "kid", "pairs", "least_visible_class"}`, the last from
//! `eval::classes`: the class that stands out least from its surroundings), a record in the
//! bundle's `model.json` (`training.evaluations`, `training.best_fid`) and, with
//! `keep_best_fid`, a copy of the best bundle in `RUN_DIR/best/`. A run that averages its
//! generator ships the average in `model/`; its current weights are scored too
//! (`RUN_DIR/current/`, records with `"current_weights": true`), and `best/` keeps whichever
//! bundle scored lowest, because the average lags the weights it averages by about
//! `1/(1-decay)` iterations. Once per run the held-out photos are also scored against as
//! many other photos of the data (`eval::reference`), the level real photos reach at this
//! many pairs, which the panel draws beside the FID curve.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::classes::{class_contrasts_against, photo_contrasts, ClassRatio, PhotoContrasts};
pub use crate::eval::reference::RealReference;
use crate::eval::{self, FeatureSet, FidNetwork, PairChoice};
use crate::labels::Palette;
use crate::nets::bundle::Model;
use crate::nets::fast::InferencePath;

/// The folder `keep_best_fid` keeps the best bundle in.
pub const BEST_DIR: &str = "best";

/// One evaluation of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub iteration: u64,
    pub fid: f64,
    pub kid: f64,
    /// Held-out pairs scored.
    pub pairs: usize,
    /// The run's current weights, scored beside the weight average its `model/` ships
    /// (`RUN_DIR/current/`); false for the bundle in `model/`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub current_weights: bool,
    /// The class that stands out least from its surroundings against the photos
    /// (`eval::classes`, issue 15's "every class shows"); absent in older logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub least_visible_class: Option<ClassRatio>,
}

/// A class as a person reads it: its name in `palette` and its id, or the id alone.
pub fn class_label(palette: Option<&Palette>, id: u16) -> String {
    match palette.and_then(|p| p.class(id)) {
        Some(class) => format!("{} (id {id})", class.name),
        None => format!("id {id}"),
    }
}

/// The lowest-FID record of `history`.
pub fn best(history: &[EvalRecord]) -> Option<EvalRecord> {
    history
        .iter()
        .copied()
        .min_by(|a, b| a.fid.total_cmp(&b.fid))
}

/// The evaluations already logged in `losses.jsonl` (a resumed run continues them).
pub fn logged(losses: &Path) -> Vec<EvalRecord> {
    let Ok(text) = std::fs::read_to_string(losses) else {
        return Vec::new();
    };
    text.lines()
        .filter(|line| line.contains("\"fid\""))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Scores a run's bundle on its held-out pairs.
pub struct RunEvaluator {
    network: FidNetwork,
    dataset: Dataset,
    choice: PairChoice,
    size: (u32, u32),
    photos: FeatureSet,
    /// The photos' class contrasts (`eval::classes`), like their features computed once.
    class_photos: PhotoContrasts,
    /// The held-out photos against as many other photos of the data (`eval::reference`): the
    /// score of real photos at this many pairs; `None` when the data has too few others.
    real_reference: Option<RealReference>,
}

impl RunEvaluator {
    /// `None` when the config does not evaluate; else the network loaded and the held-out
    /// photos' features computed.
    pub fn new(
        config: &TrainConfig,
        data: &Path,
        palette: Option<Palette>,
        held_out: &[String],
    ) -> Result<Option<Self>> {
        if config.eval_every == 0 {
            return Ok(None);
        }
        if held_out.len() < 2 {
            return Err(Error::msg(format!(
                "eval_every: FID needs at least 2 held-out pairs, holdout_every {} keeps {}",
                config.holdout_every,
                held_out.len()
            )));
        }
        let path = eval::find_network(config.fid_network.as_deref())?;
        let network = FidNetwork::load(&path, InferencePath::from_env())?;
        let dataset = Dataset::open(data, palette)?;
        let choice = PairChoice::Keys(held_out.to_vec());
        let size = eval::eval_size(&dataset, &choice, config.eval_size)?;
        let photos = eval::photo_features(&network, &dataset, &choice, size, &mut |_, _, _| {})?;
        let class_photos =
            photo_contrasts(&dataset.palette, &dataset, &choice, size, &mut |_, _, _| {})?;
        // A training photo that cannot be read skips the reference, not the run (training
        // itself skips such a pair and reports it).
        let real_reference = eval::reference::real_reference(
            &network,
            &dataset,
            &choice,
            &photos,
            size,
            &mut |_, _, _| {},
        )
        .ok()
        .flatten();
        Ok(Some(Self {
            network,
            dataset,
            choice,
            size,
            photos,
            class_photos,
            real_reference,
        }))
    }

    /// FID and KID of real photos against real photos at this run's held-out count.
    pub fn real_reference(&self) -> Option<RealReference> {
        self.real_reference
    }

    /// FID and KID of the bundle in `bundle_dir` at `iteration`, and its least visible class.
    pub fn evaluate(&self, bundle_dir: &Path, iteration: u64) -> Result<EvalRecord> {
        let model = Model::load(bundle_dir, &candle_core::Device::Cpu)?;
        let scores = eval::score_model(
            &self.network,
            &model,
            &self.dataset,
            &self.choice,
            self.size,
            &self.photos,
            &mut |_, _, _| {},
        )?;
        let classes = class_contrasts_against(&model, &self.class_photos, &mut |_, _, _| {})?;
        Ok(EvalRecord {
            current_weights: false,
            iteration,
            fid: scores.fid,
            kid: scores.kid,
            pairs: scores.real_images,
            least_visible_class: classes.least_visible(),
        })
    }
}

/// Writes `history` into an already written bundle's `model.json` (`training.evaluations`,
/// `training.best_fid`, as `build::write_bundle` writes them): the evaluation that just
/// scored that bundle joins its record.
pub fn record_in_bundle(bundle_dir: &Path, history: &[EvalRecord]) -> Result<()> {
    let path = bundle_dir.join(crate::nets::bundle::MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.clone(),
        message: e.to_string(),
    })?;
    manifest["training"]["evaluations"] =
        serde_json::to_value(history).map_err(|e| Error::msg(format!("evaluations: {e}")))?;
    manifest["training"]["best_fid"] =
        serde_json::to_value(best(history)).map_err(|e| Error::msg(format!("best FID: {e}")))?;
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    crate::atomic_file::write_text_atomic(&path, &text)
}

/// Replaces `RUN_DIR/best/` with a copy of the bundle: copied beside it, then renamed, so
/// a crash leaves the previous best whole.
pub fn keep_best(run_dir: &Path, bundle_dir: &Path) -> Result<PathBuf> {
    let best = run_dir.join(BEST_DIR);
    let staging = run_dir.join(format!("{BEST_DIR}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    for entry in std::fs::read_dir(bundle_dir).map_err(|e| Error::io(bundle_dir, e))? {
        let entry = entry.map_err(|e| Error::io(bundle_dir, e))?;
        if entry.path().is_file() {
            let target = staging.join(entry.file_name());
            std::fs::copy(entry.path(), &target).map_err(|e| Error::io(&target, e))?;
        }
    }
    let old = run_dir.join(format!("{BEST_DIR}.old-{}", std::process::id()));
    if best.exists() {
        std::fs::rename(&best, &old).map_err(|e| Error::io(&best, e))?;
    }
    std::fs::rename(&staging, &best).map_err(|e| Error::io(&best, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_record_has_the_lowest_fid() {
        let record = |iteration, fid| EvalRecord {
            iteration,
            fid,
            kid: 0.0,
            pairs: 2,
            current_weights: false,
            least_visible_class: None,
        };
        let history = [record(10, 200.0), record(20, 150.0), record(30, 170.0)];
        assert_eq!(best(&history).map(|r| r.iteration), Some(20));
        assert_eq!(best(&[]), None);
    }

    #[test]
    fn logged_evaluations_are_read_back_from_the_loss_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("losses.jsonl");
        std::fs::write(
            &log,
            "{\"iteration\":5,\"losses\":{}}\n{\"iteration\":10,\"fid\":123.5,\"kid\":0.1,\"pairs\":4}\n",
        )
        .unwrap();
        let history = logged(&log);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].iteration, 10);
        assert_eq!(history[0].fid, 123.5);
    }
}
