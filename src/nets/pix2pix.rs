//! pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
//! Networks"): the U-Net generator and the PatchGAN `NLayerDiscriminator`, following
//! `models/networks.py` of junyanz/pytorch-CycleGAN-and-pix2pix. Weight names match its
//! `state_dict` (`model.model.1.model.3...` for the nested `UnetSkipConnectionBlock`s).
//!
//! `netG: unet_hier` is the hierarchical U-Net of the pix2pix extension this product's brief
//! describes: a global U-Net translates the label image shrunk by `global_downsample` (coarse
//! layout and colour), and a full-size local U-Net sees the label image beside the global
//! image enlarged back; its output is added to that enlarged image (a residual, the fine
//! detail). Weights under `global.model...` and `local.model...`.
use candle_core::{ModuleT, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::layers::{
    leaky_relu, relu, resize_bilinear, resize_nearest, Conv2d, ConvGeometry, ConvTranspose2d,
    Dropout, Norm2d, NormKind,
};
use super::sequential::{Sequential, SequentialBuilder};
use candle_core::Module;

/// Which U-Net generator: the published one, or the hierarchical pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnetKind {
    /// One U-Net (the published `unet_256` / `unet_128`, whose depth is `num_downs`).
    #[default]
    #[serde(alias = "unet_256", alias = "unet_128")]
    Unet,
    /// A global U-Net on the shrunk label image and a local U-Net adding the fine detail.
    UnetHier,
}

/// `UnetGenerator` options (`unet_128` is `num_downs` 7, `unet_256` is 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnetOptions {
    /// `unet` (the published generator) or `unet_hier` (global + local U-Nets; `num_downs` and
    /// `ngf` are then the local U-Net's).
    #[serde(rename = "netG")]
    pub net_g: UnetKind,
    /// unet_hier: downsamplings of the global U-Net.
    pub global_num_downs: usize,
    /// unet_hier: channels of the global U-Net's outermost convolution.
    pub global_ngf: usize,
    /// unet_hier: the global U-Net sees the label image shrunk by this factor (nearest) and
    /// its image is enlarged back (bilinear).
    pub global_downsample: usize,
    /// Channels of the input (3: the label map drawn in its palette colours).
    pub input_nc: usize,
    /// Channels of the generated image (3: RGB).
    pub output_nc: usize,
    /// Downsamplings from input to bottleneck (8: 256x256 down to 1x1).
    pub num_downs: usize,
    /// Channels of the outermost convolution (inner ones up to 8x as many).
    pub ngf: usize,
    /// batch, instance or none.
    pub norm: NormKind,
    /// Dropout (p = 0.5) in the decoder blocks nearest the bottleneck while training.
    pub use_dropout: bool,
}

impl Default for UnetOptions {
    fn default() -> Self {
        Self {
            net_g: UnetKind::Unet,
            global_num_downs: 7,
            global_ngf: 64,
            global_downsample: 2,
            input_nc: 3,
            output_nc: 3,
            num_downs: 8,
            ngf: 64,
            norm: NormKind::Batch,
            use_dropout: false,
        }
    }
}

/// The published code gives a conv a bias only when no batch norm follows it (`use_bias =
/// norm_layer == InstanceNorm2d`; also false for `none`).
fn conv_bias(norm: NormKind) -> bool {
    norm == NormKind::Instance
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockPosition {
    Outermost,
    Middle,
    Innermost,
}

/// One `UnetSkipConnectionBlock`: down conv, the inner block, up conv, then (except outermost)
/// concatenation with its own input.
// Fields are crate-visible for the fast inference path (`nets::fast::pix2pix`).
#[derive(Debug, Clone)]
pub(crate) struct UnetBlock {
    pub(crate) position: BlockPosition,
    pub(crate) down_conv: Conv2d,
    pub(crate) down_norm: Option<Norm2d>,
    pub(crate) inner: Option<Box<UnetBlock>>,
    pub(crate) up_conv: ConvTranspose2d,
    pub(crate) up_norm: Option<Norm2d>,
    dropout: Option<Dropout>,
}

/// Channel plan of one block: (outer_nc, inner_nc, input_nc, dropout).
struct BlockPlan {
    outer_nc: usize,
    inner_nc: usize,
    input_nc: usize,
    dropout: bool,
}

fn block_plans(opts: &UnetOptions) -> Vec<BlockPlan> {
    let ngf = opts.ngf;
    let plan = |outer_nc, inner_nc, dropout| BlockPlan {
        outer_nc,
        inner_nc,
        input_nc: outer_nc,
        dropout,
    };
    let mut plans = vec![BlockPlan {
        outer_nc: opts.output_nc,
        inner_nc: ngf,
        input_nc: opts.input_nc,
        dropout: false,
    }];
    plans.push(plan(ngf, ngf * 2, false));
    plans.push(plan(ngf * 2, ngf * 4, false));
    plans.push(plan(ngf * 4, ngf * 8, false));
    for _ in 0..opts.num_downs - 5 {
        plans.push(plan(ngf * 8, ngf * 8, opts.use_dropout));
    }
    plans.push(plan(ngf * 8, ngf * 8, false));
    plans
}

impl UnetBlock {
    /// Builds `plans[0]` (containing `plans[1..]`) under `vb`, the block's own prefix.
    fn new(plans: &[BlockPlan], depth: usize, norm: NormKind, vb: VarBuilder) -> Result<Self> {
        let plan = &plans[0];
        let position = match (depth, plans.len()) {
            (0, _) => BlockPosition::Outermost,
            (_, 1) => BlockPosition::Innermost,
            _ => BlockPosition::Middle,
        };
        let seq = vb.pp("model");
        let bias = conv_bias(norm);
        let down = ConvGeometry::new(plan.input_nc, plan.inner_nc, 4, 2, 1);
        let up_in = if position == BlockPosition::Innermost {
            plan.inner_nc
        } else {
            plan.inner_nc * 2
        };
        let up = ConvGeometry::new(up_in, plan.outer_nc, 4, 2, 1);
        // Sequential indices: outermost [down, inner, relu, up, tanh];
        // middle [lrelu, down, norm, inner, relu, up, norm, dropout]; innermost [lrelu, down, relu, up, norm].
        let block = match position {
            BlockPosition::Outermost => Self {
                position,
                down_conv: Conv2d::new(down, bias, seq.pp("0"))?,
                down_norm: None,
                inner: Some(Box::new(Self::new(
                    &plans[1..],
                    depth + 1,
                    norm,
                    seq.pp("1"),
                )?)),
                up_conv: ConvTranspose2d::new(up, 0, true, seq.pp("3"))?,
                up_norm: None,
                dropout: None,
            },
            BlockPosition::Middle => Self {
                position,
                down_conv: Conv2d::new(down, bias, seq.pp("1"))?,
                down_norm: Some(Norm2d::new(norm, plan.inner_nc, seq.pp("2"))?),
                inner: Some(Box::new(Self::new(
                    &plans[1..],
                    depth + 1,
                    norm,
                    seq.pp("3"),
                )?)),
                up_conv: ConvTranspose2d::new(up, 0, bias, seq.pp("5"))?,
                up_norm: Some(Norm2d::new(norm, plan.outer_nc, seq.pp("6"))?),
                dropout: plan.dropout.then(|| Dropout::new(0.5, depth as u64)),
            },
            BlockPosition::Innermost => Self {
                position,
                down_conv: Conv2d::new(down, bias, seq.pp("1"))?,
                down_norm: None,
                inner: None,
                up_conv: ConvTranspose2d::new(up, 0, bias, seq.pp("3"))?,
                up_norm: Some(Norm2d::new(norm, plan.outer_nc, seq.pp("4"))?),
                dropout: None,
            },
        };
        Ok(block)
    }

    /// Reseeds this block's dropout and those of the blocks inside it, each from `seed` and
    /// its depth.
    fn reseed_dropout(&self, seed: u64, depth: u64) -> Result<()> {
        if let Some(dropout) = &self.dropout {
            dropout.reseed(seed.wrapping_add(depth.wrapping_mul(0x9E37_79B9_7F4A_7C15)))?;
        }
        match &self.inner {
            Some(inner) => inner.reseed_dropout(seed, depth + 1),
            None => Ok(()),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        // The published block applies LeakyReLU in place, so the skip connection carries the
        // activated input, not the raw one.
        let input = match self.position {
            BlockPosition::Outermost => x.clone(),
            _ => leaky_relu(x, 0.2)?,
        };
        let mut y = self.down_conv.forward(&input)?;
        if let Some(norm) = &self.down_norm {
            y = norm.forward_t(&y, train)?;
        }
        if let Some(inner) = &self.inner {
            y = inner.forward_t(&y, train)?;
        }
        y = self.up_conv.forward(&relu(&y)?)?;
        if let Some(norm) = &self.up_norm {
            y = norm.forward_t(&y, train)?;
        }
        if let Some(dropout) = &self.dropout {
            y = dropout.forward_t(&y, train)?;
        }
        match self.position {
            BlockPosition::Outermost => y.tanh(),
            _ => Tensor::cat(&[&input, &y], 1),
        }
    }
}

/// pix2pix `UnetGenerator`, or with `netG: unet_hier` the hierarchical pair; input and output
/// in [-1, 1] (the hierarchical sum may pass 1 slightly; images are clamped when drawn).
#[derive(Debug, Clone)]
pub struct UnetGenerator {
    /// The U-Net, or unet_hier's local U-Net.
    pub(crate) outermost: UnetBlock,
    /// unet_hier's global U-Net.
    pub(crate) global: Option<UnetBlock>,
    options: UnetOptions,
}

fn check_depth(num_downs: usize, what: &str) -> Result<()> {
    if num_downs < 5 {
        candle_core::bail!("pix2pix {what} needs num_downs >= 5, found {num_downs}")
    }
    Ok(())
}

impl UnetGenerator {
    pub fn new(options: &UnetOptions, vb: VarBuilder) -> Result<Self> {
        check_depth(options.num_downs, "U-Net")?;
        if options.net_g == UnetKind::Unet {
            let outermost = UnetBlock::new(&block_plans(options), 0, options.norm, vb.pp("model"))?;
            return Ok(Self {
                outermost,
                global: None,
                options: options.clone(),
            });
        }
        check_depth(options.global_num_downs, "global U-Net")?;
        if options.global_downsample < 1 {
            candle_core::bail!("pix2pix unet_hier needs global_downsample >= 1, found 0")
        }
        let global_options = options.global_unet();
        let local_options = UnetOptions {
            input_nc: options.input_nc + options.output_nc,
            ..options.clone()
        };
        let global = UnetBlock::new(
            &block_plans(&global_options),
            0,
            options.norm,
            vb.pp("global").pp("model"),
        )?;
        let outermost = UnetBlock::new(
            &block_plans(&local_options),
            0,
            options.norm,
            vb.pp("local").pp("model"),
        )?;
        Ok(Self {
            outermost,
            global: Some(global),
            options: options.clone(),
        })
    }

    /// Restarts every dropout layer's masks from `seed` (a trainer passes a seed drawn from
    /// the step's RNG, which makes each step's masks a function of the run seed and step).
    pub fn reseed_dropout(&self, seed: u64) -> Result<()> {
        self.outermost.reseed_dropout(seed, 0)?;
        match &self.global {
            Some(global) => global.reseed_dropout(seed.rotate_left(17), 0),
            None => Ok(()),
        }
    }

    pub fn options(&self) -> &UnetOptions {
        &self.options
    }

    /// The input side must be a multiple of this: 2^num_downs, and for unet_hier also
    /// global_downsample * 2^global_num_downs.
    pub fn required_multiple(&self) -> usize {
        let local = 1usize << self.options.num_downs;
        match self.global {
            None => local,
            Some(_) => lcm(
                local,
                self.options.global_downsample << self.options.global_num_downs,
            ),
        }
    }

    /// unet_hier's global image enlarged to the input's size: the whole output while the
    /// global U-Net trains alone (`niter_global_first`), the base the local U-Net adds to.
    pub fn forward_global(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let Some(global) = &self.global else {
            candle_core::bail!("pix2pix: only a unet_hier generator has a global U-Net")
        };
        let (_, _, h, w) = self.checked_size(x)?;
        let factor = self.options.global_downsample;
        let small = resize_nearest(x, h / factor, w / factor)?;
        let coarse = global.forward_t(&small, train)?;
        resize_bilinear(&coarse, h, w)
    }

    fn checked_size(&self, x: &Tensor) -> Result<(usize, usize, usize, usize)> {
        let (n, c, h, w) = x.dims4()?;
        let multiple = self.required_multiple();
        if h % multiple != 0 || w % multiple != 0 {
            candle_core::bail!(
                "pix2pix U-Net ({:?}, {} downs) needs sides divisible by {multiple}, found {h}x{w}",
                self.options.net_g,
                self.options.num_downs
            )
        }
        Ok((n, c, h, w))
    }
}

impl UnetOptions {
    /// unet_hier's global U-Net as options of its own.
    pub fn global_unet(&self) -> UnetOptions {
        UnetOptions {
            net_g: UnetKind::Unet,
            num_downs: self.global_num_downs,
            ngf: self.global_ngf,
            ..self.clone()
        }
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    a / gcd(a, b) * b
}

impl ModuleT for UnetGenerator {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.checked_size(x)?;
        if self.global.is_none() {
            return self.outermost.forward_t(x, train);
        }
        let coarse = self.forward_global(x, train)?;
        let fine = self
            .outermost
            .forward_t(&Tensor::cat(&[x, &coarse], 1)?, train)?;
        fine + coarse
    }
}

/// pix2pix `NLayerDiscriminator` (PatchGAN) options; `n_layers_D` 3 is the 70x70 PatchGAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PatchGanOptions {
    pub input_nc: usize,
    pub ndf: usize,
    #[serde(rename = "n_layers_D")]
    pub n_layers: usize,
    pub norm: NormKind,
}

impl Default for PatchGanOptions {
    fn default() -> Self {
        Self {
            input_nc: 6,
            ndf: 64,
            n_layers: 3,
            norm: NormKind::Batch,
        }
    }
}

/// pix2pix `NLayerDiscriminator`: 4x4 convs with padding 1, LeakyReLU 0.2; one logit per patch.
#[derive(Debug, Clone)]
pub struct PatchGanDiscriminator {
    model: Sequential,
}

impl PatchGanDiscriminator {
    pub fn new(options: &PatchGanOptions, vb: VarBuilder) -> Result<Self> {
        let (ndf, norm) = (options.ndf, options.norm);
        let bias = conv_bias(norm);
        let mut seq = SequentialBuilder::new(vb.pp("model"))
            .conv(ConvGeometry::new(options.input_nc, ndf, 4, 2, 1), true)?
            .leaky_relu(0.2);
        let mut mult = 1;
        for n in 1..=options.n_layers {
            let prev = mult;
            mult = (1 << n).min(8);
            let stride = if n == options.n_layers { 1 } else { 2 };
            seq = seq
                .conv(
                    ConvGeometry::new(ndf * prev, ndf * mult, 4, stride, 1),
                    bias,
                )?
                .norm(norm, ndf * mult)?
                .leaky_relu(0.2);
        }
        let model = seq
            .conv(ConvGeometry::new(ndf * mult, 1, 4, 1, 1), true)?
            .build();
        Ok(Self { model })
    }
}

impl ModuleT for PatchGanDiscriminator {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.model.forward_t(x, train)
    }
}
