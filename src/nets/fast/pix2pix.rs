//! pix2pix's U-Net generator (`pix2pix.rs`, after `UnetGenerator` of
//! junyanz/pytorch-CycleGAN-and-pix2pix) on the fast path. Each block's LeakyReLU (applied by
//! the child to its input) and ReLU (applied by the parent before its transposed conv) are
//! fused into the producing convolution or concatenation; batch norm is folded into the convs.
//! `unet_hier` runs its two U-Nets with the resizes and the residual sum between them.
use super::conv::{Activation, Conv2d, Epilogue};
use super::gather::PadMode;
use super::ops;
use super::planes::Planes;
use super::transpose::ConvTranspose2d;
use super::{conv_from, conv_transpose_from, fold_norm, FastError, NormStep};
use crate::nets::pix2pix::{BlockPosition, UnetBlock, UnetGenerator};

const LEAKY_SLOPE: f32 = 0.2;

#[derive(Debug, Clone)]
struct Block {
    outermost: bool,
    down: Conv2d,
    down_norm: NormStep,
    inner: Option<Box<Block>>,
    up: ConvTranspose2d,
    up_norm: NormStep,
}

impl Block {
    fn new(block: &UnetBlock) -> Result<Self, FastError> {
        let mut down = conv_from(
            &block.down_conv,
            (block.down_conv.geometry().padding, PadMode::Zero),
        )?;
        let down_norm = fold_norm(block.down_norm.as_ref(), |s, b| down.fold_affine(s, b))?;
        let mut up = conv_transpose_from(&block.up_conv)?;
        let up_norm = fold_norm(block.up_norm.as_ref(), |s, b| up.fold_affine(s, b))?;
        let inner = block
            .inner
            .as_ref()
            .map(|b| Block::new(b).map(Box::new))
            .transpose()?;
        Ok(Self {
            outermost: block.position == BlockPosition::Outermost,
            down,
            down_norm,
            inner,
            up,
            up_norm,
        })
    }

    /// `input` is what the published block's skip connection carries (already activated).
    /// Returns the image for the outermost block, else `relu(cat(input, up))`: the parent
    /// applies ReLU to it first thing, and ReLU distributes over the concatenation.
    fn forward(&self, input: &Planes) -> Result<Planes, FastError> {
        // The child applies LeakyReLU to its input; the innermost block applies ReLU.
        let down_act = if self.inner.is_some() {
            Activation::LeakyRelu(LEAKY_SLOPE)
        } else {
            Activation::Relu
        };
        let down = conv_norm_act(&self.down_norm, down_act, |e| self.down.forward(input, e))?;
        let up_input = match &self.inner {
            Some(inner) => inner.forward(&down)?,
            None => down,
        };
        if self.outermost {
            return conv_norm_act(&self.up_norm, Activation::Tanh, |e| {
                self.up.forward(&up_input, e)
            });
        }
        let up = conv_norm_act(&self.up_norm, Activation::Identity, |e| {
            self.up.forward(&up_input, e)
        })?;
        ops::concat_activate(input, &up, Activation::Relu)
    }
}

/// Runs `conv` with `activation` fused, or with instance norm and the activation after it.
fn conv_norm_act(
    norm: &NormStep,
    activation: Activation,
    conv: impl FnOnce(Epilogue) -> Result<Planes, FastError>,
) -> Result<Planes, FastError> {
    match norm {
        NormStep::Folded => conv(Epilogue::activation(activation)),
        NormStep::Instance => {
            let mut y = conv(Epilogue::activation(Activation::Identity))?;
            ops::instance_norm_activate(&mut y, activation);
            Ok(y)
        }
    }
}

/// pix2pix `UnetGenerator` (eval mode) on the fast path; with `unet_hier`, the global U-Net on
/// the shrunk input, enlarged back, beside the input into the local U-Net, added to its output.
#[derive(Debug, Clone)]
pub struct FastUnet {
    root: Block,
    /// unet_hier's global U-Net and its downsampling factor.
    global: Option<(Block, usize)>,
    multiple: usize,
}

impl FastUnet {
    pub fn new(generator: &UnetGenerator) -> Result<Self, FastError> {
        let global = generator
            .global
            .as_ref()
            .map(|g| Ok::<_, FastError>((Block::new(g)?, generator.options().global_downsample)))
            .transpose()?;
        Ok(Self {
            root: Block::new(&generator.outermost)?,
            global,
            multiple: generator.required_multiple(),
        })
    }

    pub fn forward(&self, x: &Planes) -> Result<Planes, FastError> {
        if !x.height.is_multiple_of(self.multiple) || !x.width.is_multiple_of(self.multiple) {
            return Err(FastError::shape(
                "pix2pix U-Net input",
                format!("sides divisible by {}", self.multiple),
                format!("{}x{}", x.height, x.width),
            ));
        }
        let Some((global, factor)) = &self.global else {
            return self.root.forward(x);
        };
        let small = ops::resize_nearest(x, x.height / factor, x.width / factor);
        let coarse = ops::resize_bilinear(&global.forward(&small)?, x.height, x.width);
        let mut fine = self.root.forward(&ops::concat_channels(&[x, &coarse])?)?;
        ops::add_in_place(&mut fine, &coarse)?;
        Ok(fine)
    }
}
