//! Runs the `spectral_norm_conv_train` reference case: one training-mode forward of
//! `torch.nn.utils.spectral_norm(nn.Conv2d)`, whose power iteration updates u and v.
use std::path::Path;

use candle_core::{ModuleT, Tensor};
use serde::Deserialize;

use super::CaseContext;
use crate::{Error, Result};

#[derive(Deserialize)]
struct SpectralStepOptions {
    #[serde(rename = "in")]
    in_channels: usize,
    #[serde(rename = "out")]
    out_channels: usize,
    kernel: usize,
    padding: usize,
    #[serde(default = "one")]
    stride: usize,
    #[serde(default = "one")]
    n_power_iterations: usize,
    #[serde(default = "spectral_eps")]
    eps: f64,
}

fn one() -> usize {
    1
}

fn spectral_eps() -> f64 {
    1e-12
}

/// One training-mode forward of a spectral-norm conv: the power iteration updates u and v.
pub(super) fn run_spectral_norm_train_step(
    ctx: &CaseContext,
    _: Option<&Path>,
) -> Result<Vec<(String, Tensor)>> {
    let opts: SpectralStepOptions = ctx.options()?;
    // The project's spectral norm is PyTorch's default: one power iteration, eps 1e-12.
    if opts.n_power_iterations != 1 || opts.eps != spectral_eps() {
        return Err(Error::msg(format!(
            "case {}: spectral norm with n_power_iterations {} and eps {:e} is not supported (expected 1 and 1e-12)",
            ctx.case.case, opts.n_power_iterations, opts.eps
        )));
    }
    let geometry = crate::nets::layers::ConvGeometry::new(
        opts.in_channels,
        opts.out_channels,
        opts.kernel,
        opts.stride,
        opts.padding,
    );
    let mut varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &ctx.device);
    let conv = crate::nets::layers::SpectralConv2d::new(geometry, true, vb)?;
    for (var_name, input) in [
        ("weight_orig", "weight_orig"),
        ("weight_u", "u"),
        ("weight_v", "v"),
        ("bias", "bias"),
    ] {
        varmap.set_one(var_name, ctx.input(input)?)?;
    }
    let y = conv.forward_t(ctx.input("x")?, true)?;
    let weight_after = conv.weight_t(false)?;
    let stored = |name: &str| -> Result<Tensor> {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| Error::msg("VarMap lock poisoned"))?;
        let var = data
            .get(name)
            .ok_or_else(|| Error::msg(format!("no variable `{name}`")))?;
        Ok(var.as_tensor().copy()?)
    };
    Ok(vec![
        ("y".into(), y),
        ("u_after".into(), stored("weight_u")?),
        ("v_after".into(), stored("weight_v")?),
        ("weight_after".into(), weight_after),
    ])
}
