//! Runs the SPADE reference cases (`../shared/reference/*.json`, see its README): builds the
//! network a case names from its `options` and weights, feeds the named inputs and returns
//! the named outputs, for the reference test harness to compare with PyTorch.
use std::collections::HashMap;

use candle_core::Tensor;
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::nets::bundle::Generator;
use crate::nets::semantic::{semantic_input, SemanticOptions};
use crate::nets::spade_discriminator::MultiscaleDiscriminator;
use crate::nets::spade_encoder::ConvEncoder;
use crate::nets::spade_generator::SpadeGenerator;
use crate::nets::spade_options::SpadeOptions;
use crate::{Error, Result};

/// The case `net` values this module runs.
pub const SPADE_CASE_NETS: &[&str] = &[
    "semantic_input",
    "spade_generator",
    "spade_encoder",
    "spade_multiscale_discriminator",
];

/// Runs one case. `net`, `options`: the case's fields; `weights`: its state_dict (None for
/// cases without one); `inputs`: its inputs by name (without the `input.` prefix). Returns
/// the outputs by name (without `output.`), or `None` when `net` is not a SPADE case.
pub fn run_spade_case(
    net: &str,
    options: &serde_json::Value,
    weights: Option<VarBuilder>,
    inputs: &HashMap<String, Tensor>,
) -> Result<Option<Vec<(String, Tensor)>>> {
    let outputs = match net {
        "semantic_input" => semantic_case(options, inputs)?,
        "spade_generator" => generator_case(options, need_weights(net, weights)?, inputs)?,
        "spade_encoder" => encoder_case(options, need_weights(net, weights)?, inputs)?,
        "spade_multiscale_discriminator" => {
            discriminator_case(options, need_weights(net, weights)?, inputs)?
        }
        _ => return Ok(None),
    };
    Ok(Some(outputs))
}

fn need_weights<'a>(net: &str, weights: Option<VarBuilder<'a>>) -> Result<VarBuilder<'a>> {
    weights.ok_or_else(|| Error::msg(format!("reference case '{net}' needs a weights file")))
}

fn input<'a>(inputs: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    inputs.get(name).ok_or_else(|| {
        let mut found: Vec<_> = inputs.keys().collect();
        found.sort();
        Error::msg(format!(
            "reference case: missing input '{name}', found {found:?}"
        ))
    })
}

fn semantic_case(
    options: &serde_json::Value,
    inputs: &HashMap<String, Tensor>,
) -> Result<Vec<(String, Tensor)>> {
    let options = SemanticOptions::deserialize(options)
        .map_err(|e| Error::msg(format!("semantic options: {e}")))?;
    let semantics = semantic_input(input(inputs, "label")?, inputs.get("instance"), &options)?;
    Ok(vec![("semantics".into(), semantics)])
}

fn generator_case(
    options: &serde_json::Value,
    vb: VarBuilder,
    inputs: &HashMap<String, Tensor>,
) -> Result<Vec<(String, Tensor)>> {
    let options = SpadeOptions::from_json(options)?;
    let generator = SpadeGenerator::new(&options, vb)?;
    // The VAE case gives the one-hot map as `seg`; the segmentation case gives label and
    // instance maps, which go through our own semantic input (and `semantics` for reference).
    let seg = match (inputs.get("seg"), inputs.get("label")) {
        (Some(seg), _) => seg.clone(),
        (None, Some(label)) => semantic_input(label, inputs.get("instance"), &options.semantic())?,
        (None, None) => input(inputs, "semantics")?.clone(),
    };
    super::generator_outputs(Generator::Spade(generator), &seg, inputs.get("z"))
}

fn encoder_case(
    options: &serde_json::Value,
    vb: VarBuilder,
    inputs: &HashMap<String, Tensor>,
) -> Result<Vec<(String, Tensor)>> {
    let encoder = ConvEncoder::new(&SpadeOptions::from_json(options)?, vb)?;
    let mut outputs = Vec::new();
    // Every input `image<suffix>` gives `mu<suffix>` and `logvar<suffix>`.
    for (name, image) in inputs {
        if let Some(suffix) = name.strip_prefix("image") {
            let (mu, logvar) = encoder.forward_t(image, false)?;
            outputs.push((format!("mu{suffix}"), mu));
            outputs.push((format!("logvar{suffix}"), logvar));
        }
    }
    Ok(outputs)
}

fn discriminator_case(
    options: &serde_json::Value,
    vb: VarBuilder,
    inputs: &HashMap<String, Tensor>,
) -> Result<Vec<(String, Tensor)>> {
    let options = SpadeOptions::from_json(options)?;
    let discriminator = MultiscaleDiscriminator::new(&options, vb)?;
    let features = discriminator.forward_t(input(inputs, "input")?, false)?;
    // Without feature matching the published D returns only each scale's prediction.
    let keep_features = !options.no_gan_feat_loss;
    Ok(features
        .into_iter()
        .enumerate()
        .flat_map(|(i, layers)| {
            let last = layers.len().saturating_sub(1);
            layers
                .into_iter()
                .enumerate()
                .filter(move |(j, _)| keep_features || *j == last)
                .map(move |(j, f)| {
                    let k = if keep_features { j } else { 0 };
                    (format!("features.d{i}.f{k}"), f)
                })
        })
        .collect())
}
