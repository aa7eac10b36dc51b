//! How the settings of a run are decided, for the CLI and the training panel alike: a preset
//! (the network family's default when none is named), the user's overrides on top (a
//! `--config` file's keys, or the panel's fields), the total number of iterations; and when a
//! run is continued, its own saved `config.json`, read once here, which wins over everything
//! but the total.
use std::path::Path;

use super::{default_preset, preset, NetFamily, TrainConfig};
use crate::error::{Error, Result};
use crate::train::run_files::CONFIG_FILE;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ConfigChoice<'a> {
    pub net: NetFamily,
    /// `None`: the family's default preset.
    pub preset: Option<&'a str>,
    /// Settings over the preset's, by `TrainConfig` field name, and where they came from
    /// (named in errors).
    pub overrides: serde_json::Map<String, serde_json::Value>,
    pub overrides_from: &'a str,
    /// The run's total; `None` keeps the preset's, or a continued run's saved total.
    pub iters: Option<u64>,
    pub run_dir: &'a Path,
    /// Continue the run in `run_dir` when it has a saved config.
    pub resume: bool,
}

/// The settings decided, with the continued run's saved ones when there is one.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: TrainConfig,
    pub saved: Option<TrainConfig>,
}

/// Decides the settings of a run (see the module header).
pub fn resolve(choice: &ConfigChoice) -> Result<Resolved> {
    let saved_path = choice.run_dir.join(CONFIG_FILE);
    let saved = if choice.resume && saved_path.is_file() {
        Some(TrainConfig::load(&saved_path)?)
    } else {
        None
    };
    if let (Some(saved), None, true) = (&saved, choice.preset, choice.overrides.is_empty()) {
        // Continuing with nothing new asked: the run's own settings, with a new total.
        let mut config = saved.clone();
        config.iters = choice.iters.unwrap_or(config.iters);
        return Ok(Resolved {
            config,
            saved: Some(saved.clone()),
        });
    }
    let name = choice.preset.unwrap_or_else(|| default_preset(choice.net));
    let mut config = preset(name)?;
    if config.net != choice.net {
        return Err(Error::msg(format!(
            "preset {name} trains {:?}, not {:?}",
            config.net, choice.net
        )));
    }
    if !choice.overrides.is_empty() {
        config = with_overrides(&config, &choice.overrides, choice.overrides_from)?;
    }
    // Without a new total a continued run keeps its own, not the preset's.
    config.iters = choice
        .iters
        .or(saved.as_ref().map(|s| s.iters))
        .unwrap_or(config.iters);
    Ok(Resolved { config, saved })
}

/// The settings of a training config file (`train --config`, `bench --train-config`): a JSON
/// object of `TrainConfig` fields. Errors name the file and what is wrong with it.
pub fn read_overrides(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::msg(format!(
            "training config {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::msg(format!(
            "training config {}: not valid JSON: {e}",
            path.display()
        ))
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(Error::msg(format!(
            "{}: a training config is a JSON object of settings ({{\"iters\": 100, ...}}), not {}",
            path.display(),
            json_kind(&other)
        ))),
    }
}

/// "an array", "a number", ... for messages about a JSON value of the wrong kind.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `config` with `overrides` over it by field name (a shallow merge: a `network` given
/// replaces the whole network block), as a `--config` file or the training panel gives them.
/// An error names `from` and the first setting whose value does not fit, with what was found
/// and what was expected.
pub fn with_overrides(
    config: &TrainConfig,
    overrides: &serde_json::Map<String, serde_json::Value>,
    from: &str,
) -> Result<TrainConfig> {
    let base = serde_json::to_value(config)
        .map_err(|e| Error::msg(format!("training config {from}: {e}")))?;
    let merged = |settings: &mut dyn Iterator<Item = (&String, &serde_json::Value)>| {
        let mut merged = base.clone();
        if let Some(fields) = merged.as_object_mut() {
            fields.extend(settings.map(|(k, v)| (k.clone(), v.clone())));
        }
        serde_json::from_value::<TrainConfig>(merged)
    };
    merged(&mut overrides.iter()).map_err(|e| {
        let culprit = overrides
            .iter()
            .find(|&setting| merged(&mut std::iter::once(setting)).is_err());
        match culprit {
            Some((key, value)) => Error::msg(format!(
                "training config {from}: \"{key}\": {value} does not fit: {e}"
            )),
            None => Error::msg(format!("training config {from}: {e}")),
        }
    })
}

impl Resolved {
    /// The settings asked for that a continued run ignores because its saved config differs
    /// (it keeps its saved settings; only `iters` is taken), as "key: kept X, not Y".
    pub fn ignored_on_resume(&self) -> Result<Vec<String>> {
        let Some(saved) = &self.saved else {
            return Ok(Vec::new());
        };
        let as_object =
            |config: &TrainConfig| -> Result<serde_json::Map<String, serde_json::Value>> {
                match serde_json::to_value(config) {
                    Ok(serde_json::Value::Object(map)) => Ok(map),
                    Ok(_) => Err(Error::msg("a training config is not a JSON object")),
                    Err(e) => Err(Error::msg(format!("training config: {e}"))),
                }
            };
        let (saved, requested) = (as_object(saved)?, as_object(&self.config)?);
        Ok(requested
            .iter()
            .filter(|(key, value)| {
                key.as_str() != "iters" && saved.get(key.as_str()) != Some(value)
            })
            .map(|(key, value)| {
                let kept = saved.get(key.as_str()).cloned().unwrap_or_default();
                format!("{key}: kept {kept}, not {value}")
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(run_dir: &Path) -> ConfigChoice<'_> {
        ConfigChoice {
            net: NetFamily::Spade,
            preset: None,
            overrides: serde_json::Map::new(),
            overrides_from: "test",
            iters: None,
            run_dir,
            resume: false,
        }
    }

    #[test]
    fn preset_overrides_and_a_saved_run_decide_in_that_order() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = resolve(&choice(dir.path())).unwrap();
        assert_eq!(fresh.config.preset, default_preset(NetFamily::Spade));
        assert!(fresh.saved.is_none());

        let mut tuned = choice(dir.path());
        tuned.preset = Some("spade-tiny");
        tuned.overrides.insert("batch_size".into(), 2.into());
        tuned.iters = Some(7);
        let tuned = resolve(&tuned).unwrap().config;
        assert_eq!(
            (tuned.preset.as_str(), tuned.batch_size, tuned.iters),
            ("spade-tiny", 2, 7)
        );

        let mut saved = tuned.clone();
        saved.iters = 50;
        std::fs::write(dir.path().join(CONFIG_FILE), saved.to_json().unwrap()).unwrap();
        let mut again = choice(dir.path());
        again.resume = true;
        let continued = resolve(&again).unwrap();
        assert_eq!(continued.config.batch_size, 2, "the saved settings");
        assert_eq!(continued.config.iters, 50, "and the saved total");
        assert!(continued.ignored_on_resume().unwrap().is_empty());

        again.preset = Some("spade-tiny");
        again.overrides.insert("batch_size".into(), 3.into());
        let asked = resolve(&again).unwrap();
        assert_eq!(asked.config.iters, 50, "no new total: the saved one");
        let ignored = asked.ignored_on_resume().unwrap();
        assert_eq!(ignored, vec!["batch_size: kept 2, not 3".to_string()]);

        let mut wrong = choice(dir.path());
        wrong.preset = Some("pix2pix-tiny");
        let err = resolve(&wrong).unwrap_err().to_string();
        assert!(err.contains("pix2pix-tiny trains"), "{err}");
        let mut bad = choice(dir.path());
        bad.overrides.insert("batch_size".into(), "many".into());
        bad.overrides_from = "my.json";
        let err = resolve(&bad).unwrap_err().to_string();
        assert!(err.contains("my.json"), "{err}");
        // The setting that does not fit is named, among others that do.
        bad.overrides.insert("iters".into(), 30.into());
        bad.overrides.insert("seed".into(), 4.into());
        let err = resolve(&bad).unwrap_err().to_string();
        assert!(
            err.contains("\"batch_size\": \"many\" does not fit") && err.contains("usize"),
            "{err}"
        );
    }
}
