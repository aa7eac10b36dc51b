//! pix2pixHD's `GlobalGenerator` and `LocalEnhancer` (`pix2pixhd.rs`, after NVIDIA/pix2pixHD
//! `models/networks.py`) on the fast path: their `Sequential`s compiled into fused steps. A
//! padding layer becomes the next convolution's gather table, batch norm folds into the conv,
//! and a ReLU or tanh after a conv (or after instance norm) runs in the same pass.
use super::conv::{Activation, Conv2d, Epilogue};
use super::gather::PadMode;
use super::ops;
use super::planes::Planes;
use super::seg::Signatures;
use super::transpose::ConvTranspose2d;
use super::{conv_from, conv_transpose_from, fold_norm, FastError, NormStep};
use crate::nets::layers::Norm2d;
use crate::nets::pix2pixhd::{GlobalGenerator, LocalEnhancer};
use crate::nets::sequential::{Layer, Sequential};

#[derive(Debug, Clone)]
enum Kernel {
    Conv(Conv2d),
    Transpose(ConvTranspose2d),
}

/// One fused step: a convolution, its normalization and its activation, or a residual block.
#[derive(Debug, Clone)]
enum Step {
    Conv {
        kernel: Kernel,
        norm: NormStep,
        activation: Activation,
    },
    /// An activation that follows no convolution.
    Activation(Activation),
    /// Instance norm that follows no convolution.
    InstanceNorm(Activation),
    /// `x + steps(x)`.
    Residual(Vec<Step>),
}

/// Compiles a `Sequential` into fused steps.
fn compile(seq: &Sequential) -> Result<Vec<Step>, FastError> {
    let layers = seq.layers();
    let mut steps: Vec<Step> = Vec::new();
    let mut pending_pad: Option<(usize, PadMode)> = None;
    for layer in layers {
        match layer {
            Layer::ReflectionPad(p) => pending_pad = Some((*p, PadMode::Reflect)),
            Layer::ReplicationPad(p) => pending_pad = Some((*p, PadMode::Replicate)),
            Layer::Conv(conv) => {
                let pad = match pending_pad.take() {
                    Some(pad) if conv.geometry().padding == 0 => pad,
                    Some(_) => {
                        return Err(FastError::Unsupported(
                            "a padding layer before a padded conv".into(),
                        ))
                    }
                    None => (conv.geometry().padding, PadMode::Zero),
                };
                steps.push(Step::Conv {
                    kernel: Kernel::Conv(conv_from(conv, pad)?),
                    norm: NormStep::Folded,
                    activation: Activation::Identity,
                });
            }
            Layer::ConvTranspose(conv) => steps.push(Step::Conv {
                kernel: Kernel::Transpose(conv_transpose_from(conv)?),
                norm: NormStep::Folded,
                activation: Activation::Identity,
            }),
            Layer::Norm(norm) => push_norm(&mut steps, norm)?,
            Layer::Relu => push_activation(&mut steps, Activation::Relu),
            Layer::LeakyRelu(slope) => {
                push_activation(&mut steps, Activation::LeakyRelu(*slope as f32))
            }
            Layer::Tanh => push_activation(&mut steps, Activation::Tanh),
            Layer::Dropout(_) => {}
            Layer::Residual(block) => steps.push(Step::Residual(compile(block)?)),
            Layer::Sigmoid => {
                return Err(FastError::Unsupported("a sigmoid in a generator".into()))
            }
        }
        if pending_pad.is_some()
            && !matches!(layer, Layer::ReflectionPad(_) | Layer::ReplicationPad(_))
        {
            return Err(FastError::Unsupported(
                "a padding layer not followed by a conv".into(),
            ));
        }
    }
    if pending_pad.is_some() {
        return Err(FastError::Unsupported(
            "a padding layer at the end of a sequence".into(),
        ));
    }
    Ok(steps)
}

/// Attaches a norm to the conv just before it (folding batch norm), else runs it alone.
fn push_norm(steps: &mut Vec<Step>, norm: &Norm2d) -> Result<(), FastError> {
    if let Some(Step::Conv {
        kernel,
        norm: step_norm @ NormStep::Folded,
        activation: Activation::Identity,
    }) = steps.last_mut()
    {
        *step_norm = fold_norm(Some(norm), |scale, shift| match kernel {
            Kernel::Conv(c) => c.fold_affine(scale, shift),
            Kernel::Transpose(t) => t.fold_affine(scale, shift),
        })?;
        return Ok(());
    }
    match norm {
        Norm2d::Identity => Ok(()),
        Norm2d::Instance => {
            steps.push(Step::InstanceNorm(Activation::Identity));
            Ok(())
        }
        Norm2d::Batch(_) => Err(FastError::Unsupported(
            "a batch norm that follows no conv".into(),
        )),
    }
}

/// Fuses an activation into the step before it when that step has none yet.
fn push_activation(steps: &mut Vec<Step>, new: Activation) {
    match steps.last_mut() {
        Some(Step::Conv { activation, .. }) | Some(Step::InstanceNorm(activation))
            if *activation == Activation::Identity =>
        {
            *activation = new
        }
        _ => steps.push(Step::Activation(new)),
    }
}

/// The convolution that reads a network's input: a label map (few distinct pixel vectors)
/// takes the lookup path, anything else the dense product.
fn input_conv(conv: &Conv2d, x: &Planes, epilogue: Epilogue) -> Result<Planes, FastError> {
    // The signature scan costs little but nothing at all when even one signature would not pay.
    if conv.lookup_pays(1, x.height, x.width) {
        if let Some(signatures) = Signatures::find(x) {
            if conv.lookup_pays(signatures.vectors.len(), x.height, x.width) {
                return conv.forward_by_lookup(&signatures, (x.height, x.width), epilogue);
            }
        }
    }
    conv.forward(x, epilogue)
}

/// Runs `steps` on `x`; `x_may_be_labels` when `x` is the network's input.
fn run(steps: &[Step], x: &Planes, x_may_be_labels: bool) -> Result<Planes, FastError> {
    let mut current: Option<Planes> = None;
    for step in steps {
        let reads_input = current.is_none() && x_may_be_labels;
        let input = current.as_ref().unwrap_or(x);
        let next = match step {
            Step::Conv {
                kernel,
                norm,
                activation,
            } => {
                let fused = match norm {
                    NormStep::Folded => *activation,
                    NormStep::Instance => Activation::Identity,
                };
                let mut y = match kernel {
                    Kernel::Conv(c) if reads_input => {
                        input_conv(c, input, Epilogue::activation(fused))?
                    }
                    Kernel::Conv(c) => c.forward(input, Epilogue::activation(fused))?,
                    Kernel::Transpose(t) => t.forward(input, Epilogue::activation(fused))?,
                };
                if let NormStep::Instance = norm {
                    ops::instance_norm_activate(&mut y, *activation);
                }
                y
            }
            Step::Activation(a) => {
                let mut y = input.clone();
                ops::activate(&mut y, *a);
                y
            }
            Step::InstanceNorm(a) => {
                let mut y = input.clone();
                ops::instance_norm_activate(&mut y, *a);
                y
            }
            Step::Residual(block) => {
                let mut y = run(block, input, false)?;
                ops::add_in_place(&mut y, input)?;
                y
            }
        };
        current = Some(next);
    }
    Ok(current.unwrap_or_else(|| x.clone()))
}

fn check_multiple(x: &Planes, multiple: usize, what: &str) -> Result<(), FastError> {
    if !x.height.is_multiple_of(multiple) || !x.width.is_multiple_of(multiple) {
        return Err(FastError::shape(
            what,
            format!("sides divisible by {multiple}"),
            format!("{}x{}", x.height, x.width),
        ));
    }
    Ok(())
}

/// pix2pixHD `GlobalGenerator` (eval mode) on the fast path.
#[derive(Debug, Clone)]
pub struct FastGlobal {
    steps: Vec<Step>,
    multiple: usize,
}

impl FastGlobal {
    pub fn new(generator: &GlobalGenerator) -> Result<Self, FastError> {
        Ok(Self {
            steps: compile(&generator.model)?,
            multiple: generator.required_multiple(),
        })
    }

    pub fn forward(&self, x: &Planes) -> Result<Planes, FastError> {
        check_multiple(x, self.multiple, "pix2pixHD global generator input")?;
        run(&self.steps, x, true)
    }
}

/// pix2pixHD `LocalEnhancer` (eval mode) on the fast path.
#[derive(Debug, Clone)]
pub struct FastLocal {
    global: Vec<Step>,
    /// Per enhancer: (downsample, upsample).
    enhancers: Vec<(Vec<Step>, Vec<Step>)>,
    multiple: usize,
}

impl FastLocal {
    pub fn new(generator: &LocalEnhancer) -> Result<Self, FastError> {
        let enhancers = generator
            .enhancers
            .iter()
            .map(|e| Ok((compile(&e.downsample)?, compile(&e.upsample)?)))
            .collect::<Result<_, FastError>>()?;
        Ok(Self {
            global: compile(&generator.global)?,
            enhancers,
            multiple: generator.required_multiple(),
        })
    }

    pub fn forward(&self, x: &Planes) -> Result<Planes, FastError> {
        check_multiple(x, self.multiple, "pix2pixHD local enhancer input")?;
        let mut pyramid = vec![x.clone()];
        for _ in 0..self.enhancers.len() {
            let coarser = ops::avg_pool3_s2_exclude_pad(&pyramid[pyramid.len() - 1]);
            pyramid.push(coarser);
        }
        let coarsest = &pyramid[pyramid.len() - 1];
        let mut output = run(&self.global, coarsest, true)?;
        for (n, (down, up)) in self.enhancers.iter().enumerate() {
            let input = &pyramid[self.enhancers.len() - 1 - n];
            let mut merged = run(down, input, true)?;
            ops::add_in_place(&mut merged, &output)?;
            output = run(up, &merged, false)?;
        }
        Ok(output)
    }
}
