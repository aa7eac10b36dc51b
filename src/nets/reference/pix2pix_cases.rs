//! Runs the pix2pix and pix2pixHD reference cases: the U-Net and PatchGAN of
//! junyanz/pytorch-CycleGAN-and-pix2pix, pix2pixHD's global generator, local enhancer and
//! multi-scale discriminator (NVIDIA/pix2pixHD `models/networks.py`), built from a case's
//! options and weights; generators on the Candle network and the fast CPU path.
use std::path::Path;

use candle_core::{ModuleT, Tensor};

use super::{feature_outputs, generator_outputs, CaseContext};
use crate::nets::bundle::Generator;
use crate::nets::{pix2pix, pix2pixhd};
use crate::Result;

pub(super) fn run_pix2pix_unet(
    ctx: &CaseContext,
    weights: Option<&Path>,
) -> Result<Vec<(String, Tensor)>> {
    let opts: pix2pix::UnetOptions = ctx.options()?;
    let net = ctx.load(weights, |vb| pix2pix::UnetGenerator::new(&opts, vb))?;
    generator_outputs(Generator::Pix2pixUnet(net), ctx.input("input")?, None)
}

pub(super) fn run_pix2pix_patchgan(
    ctx: &CaseContext,
    weights: Option<&Path>,
) -> Result<Vec<(String, Tensor)>> {
    let opts: pix2pix::PatchGanOptions = ctx.options()?;
    let net = ctx.load(weights, |vb| pix2pix::PatchGanDiscriminator::new(&opts, vb))?;
    Ok(vec![(
        "prediction".into(),
        net.forward_t(ctx.input("input")?, false)?,
    )])
}

pub(super) fn run_pix2pixhd_global(
    ctx: &CaseContext,
    weights: Option<&Path>,
) -> Result<Vec<(String, Tensor)>> {
    let opts: pix2pixhd::GlobalOptions = ctx.options()?;
    let net = ctx.load(weights, |vb| pix2pixhd::GlobalGenerator::new(&opts, vb))?;
    generator_outputs(Generator::Pix2pixhdGlobal(net), ctx.input("input")?, None)
}

pub(super) fn run_pix2pixhd_local(
    ctx: &CaseContext,
    weights: Option<&Path>,
) -> Result<Vec<(String, Tensor)>> {
    let opts: pix2pixhd::LocalOptions = ctx.options()?;
    let net = ctx.load(weights, |vb| pix2pixhd::LocalEnhancer::new(&opts, vb))?;
    generator_outputs(Generator::Pix2pixhdLocal(net), ctx.input("input")?, None)
}

pub(super) fn run_pix2pixhd_multiscale(
    ctx: &CaseContext,
    weights: Option<&Path>,
) -> Result<Vec<(String, Tensor)>> {
    let opts: pix2pixhd::MultiscaleOptions = ctx.options()?;
    let net = ctx.load(weights, |vb| {
        pix2pixhd::MultiscaleDiscriminator::new(&opts, vb)
    })?;
    Ok(feature_outputs(net.forward_t(ctx.input("input")?, false)?))
}
