//! pix2pixHD (Wang et al. 2018, "High-Resolution Image Synthesis and Semantic Manipulation with
//! Conditional GANs"): `GlobalGenerator`, `LocalEnhancer` and `MultiscaleDiscriminator`, following
//! `models/networks.py` of NVIDIA/pix2pixHD. Weight names match its `state_dict`.
use candle_core::{ModuleT, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::layers::{avg_pool3_s2_exclude_pad, ConvGeometry, NormKind};
use super::sequential::{Layer, PaddingType, Sequential, SequentialBuilder};

/// `GlobalGenerator` options with pix2pixHD's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GlobalOptions {
    /// Input channels: the one-hot classes, plus one for the instance boundary map.
    pub input_nc: usize,
    /// Channels of the generated image (3: RGB).
    pub output_nc: usize,
    /// Channels of the first convolution (doubled at each downsampling).
    pub ngf: usize,
    /// Strided downsamplings before the residual blocks.
    pub n_downsample_global: usize,
    /// Residual blocks at the lowest resolution.
    pub n_blocks_global: usize,
    /// instance or batch.
    pub norm: NormKind,
    /// reflect, replicate or zero padding of the 7x7 and residual convolutions.
    pub padding_type: PaddingType,
}

impl Default for GlobalOptions {
    fn default() -> Self {
        Self {
            input_nc: 36,
            output_nc: 3,
            ngf: 64,
            n_downsample_global: 4,
            n_blocks_global: 9,
            norm: NormKind::Instance,
            padding_type: PaddingType::Reflect,
        }
    }
}

/// `ResnetBlock(dim)`: pad, conv3, norm, ReLU, pad, conv3, norm; output `x + block(x)`.
fn resnet_block(dim: usize, padding: PaddingType, norm: NormKind, vb: VarBuilder) -> Result<Layer> {
    let conv_padding = if padding == PaddingType::Zero { 1 } else { 0 };
    let geometry = ConvGeometry::new(dim, dim, 3, 1, conv_padding);
    let block = SequentialBuilder::new(vb.pp("conv_block"))
        .pad(padding, 1)
        .conv(geometry, true)?
        .norm(norm, dim)?
        .relu()
        .pad(padding, 1)
        .conv(geometry, true)?
        .norm(norm, dim)?
        .build();
    Ok(Layer::Residual(block))
}

/// The global generator's layers; `with_head` false drops the final pad/conv/tanh (as
/// `LocalEnhancer` does).
fn global_layers(opts: &GlobalOptions, with_head: bool, vb: VarBuilder) -> Result<Sequential> {
    let (ngf, norm) = (opts.ngf, opts.norm);
    let mut seq = SequentialBuilder::new(vb)
        .push(Layer::ReflectionPad(3))
        .conv(ConvGeometry::new(opts.input_nc, ngf, 7, 1, 0), true)?
        .norm(norm, ngf)?
        .relu();
    for i in 0..opts.n_downsample_global {
        let mult = 1 << i;
        seq = seq
            .conv(ConvGeometry::new(ngf * mult, ngf * mult * 2, 3, 2, 1), true)?
            .norm(norm, ngf * mult * 2)?
            .relu();
    }
    let mult = 1 << opts.n_downsample_global;
    for _ in 0..opts.n_blocks_global {
        let block = resnet_block(ngf * mult, opts.padding_type, norm, seq.child_vb())?;
        seq = seq.push(block);
    }
    for i in 0..opts.n_downsample_global {
        let mult = 1 << (opts.n_downsample_global - i);
        seq = seq
            .conv_transpose(
                ConvGeometry::new(ngf * mult, ngf * mult / 2, 3, 2, 1),
                1,
                true,
            )?
            .norm(norm, ngf * mult / 2)?
            .relu();
    }
    if with_head {
        seq = seq
            .push(Layer::ReflectionPad(3))
            .conv(ConvGeometry::new(ngf, opts.output_nc, 7, 1, 0), true)?
            .tanh();
    }
    Ok(seq.build())
}

/// Side lengths must be multiples of this for the down/up path to return the input size.
fn check_divisible(x: &Tensor, multiple: usize, what: &str) -> Result<()> {
    let (_, _, h, w) = x.dims4()?;
    if h % multiple != 0 || w % multiple != 0 {
        candle_core::bail!("{what} needs sides divisible by {multiple}, found {h}x{w}")
    }
    Ok(())
}

/// pix2pixHD `GlobalGenerator` (G1).
#[derive(Debug, Clone)]
pub struct GlobalGenerator {
    pub(crate) model: Sequential,
    options: GlobalOptions,
}

impl GlobalGenerator {
    pub fn new(options: &GlobalOptions, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            model: global_layers(options, true, vb.pp("model"))?,
            options: options.clone(),
        })
    }

    pub fn required_multiple(&self) -> usize {
        1 << self.options.n_downsample_global
    }

    pub fn options(&self) -> &GlobalOptions {
        &self.options
    }
}

impl ModuleT for GlobalGenerator {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        check_divisible(x, self.required_multiple(), "pix2pixHD global generator")?;
        self.model.forward_t(x, train)
    }
}

/// `LocalEnhancer` options: the global generator's plus the enhancers'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalOptions {
    #[serde(flatten)]
    pub global: GlobalOptions,
    /// Local enhancers around the global generator, each doubling the resolution.
    pub n_local_enhancers: usize,
    /// Residual blocks in each local enhancer.
    pub n_blocks_local: usize,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            global: GlobalOptions::default(),
            n_local_enhancers: 1,
            n_blocks_local: 3,
        }
    }
}

/// One enhancer level: `model{n}_1` (full-res downsampler) and `model{n}_2` (blocks + upsampler).
#[derive(Debug, Clone)]
pub(crate) struct Enhancer {
    pub(crate) downsample: Sequential,
    pub(crate) upsample: Sequential,
}

/// pix2pixHD `LocalEnhancer` (G1 + G2).
#[derive(Debug, Clone)]
pub struct LocalEnhancer {
    pub(crate) global: Sequential,
    pub(crate) enhancers: Vec<Enhancer>,
    options: LocalOptions,
}

impl LocalEnhancer {
    pub fn new(options: &LocalOptions, vb: VarBuilder) -> Result<Self> {
        let n_local = options.n_local_enhancers;
        if n_local == 0 {
            candle_core::bail!("pix2pixHD local enhancer needs n_local_enhancers >= 1, found 0")
        }
        let g = &options.global;
        // The published LocalEnhancer builds its global part without passing padding_type,
        // so it always pads by reflection; only the enhancers' blocks follow the option.
        let global_opts = GlobalOptions {
            ngf: g.ngf << n_local,
            padding_type: PaddingType::Reflect,
            ..g.clone()
        };
        let global = global_layers(&global_opts, false, vb.pp("model"))?;
        let enhancers = (1..=n_local)
            .map(|n| Self::enhancer(options, n, &vb))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            global,
            enhancers,
            options: options.clone(),
        })
    }

    fn enhancer(options: &LocalOptions, n: usize, vb: &VarBuilder) -> Result<Enhancer> {
        let g = &options.global;
        let (norm, padding) = (g.norm, g.padding_type);
        let ngf = g.ngf << (options.n_local_enhancers - n);
        let downsample = SequentialBuilder::new(vb.pp(format!("model{n}_1")))
            .push(Layer::ReflectionPad(3))
            .conv(ConvGeometry::new(g.input_nc, ngf, 7, 1, 0), true)?
            .norm(norm, ngf)?
            .relu()
            .conv(ConvGeometry::new(ngf, ngf * 2, 3, 2, 1), true)?
            .norm(norm, ngf * 2)?
            .relu()
            .build();
        let mut up = SequentialBuilder::new(vb.pp(format!("model{n}_2")));
        for _ in 0..options.n_blocks_local {
            let block = resnet_block(ngf * 2, padding, norm, up.child_vb())?;
            up = up.push(block);
        }
        up = up
            .conv_transpose(ConvGeometry::new(ngf * 2, ngf, 3, 2, 1), 1, true)?
            .norm(norm, ngf)?
            .relu();
        if n == options.n_local_enhancers {
            up = up
                .push(Layer::ReflectionPad(3))
                .conv(ConvGeometry::new(g.ngf, g.output_nc, 7, 1, 0), true)?
                .tanh();
        }
        Ok(Enhancer {
            downsample,
            upsample: up.build(),
        })
    }

    pub fn required_multiple(&self) -> usize {
        1 << (self.options.global.n_downsample_global + self.options.n_local_enhancers)
    }

    pub fn options(&self) -> &LocalOptions {
        &self.options
    }

    /// The forward pass with everything but the outermost enhancer fixed (published
    /// `niter_fix_global`): the coarser levels' output is detached before the outermost
    /// enhancer adds to it, so no gradient reaches the global generator or the inner enhancers.
    pub fn forward_fixing_global(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_levels(x, train, true)
    }

    fn forward_levels(&self, x: &Tensor, train: bool, fix_global: bool) -> Result<Tensor> {
        check_divisible(x, self.required_multiple(), "pix2pixHD local enhancer")?;
        let mut pyramid = vec![x.clone()];
        for _ in 0..self.enhancers.len() {
            let coarser = avg_pool3_s2_exclude_pad(&pyramid[pyramid.len() - 1])?;
            pyramid.push(coarser);
        }
        let mut output = self.global.forward_t(&pyramid[pyramid.len() - 1], train)?;
        let outermost = self.enhancers.len() - 1;
        for (n, enhancer) in self.enhancers.iter().enumerate() {
            if fix_global && n == outermost {
                output = output.detach();
            }
            let input = &pyramid[outermost - n];
            let merged = (enhancer.downsample.forward_t(input, train)? + output)?;
            output = enhancer.upsample.forward_t(&merged, train)?;
        }
        Ok(output)
    }
}

impl LocalOptions {
    /// Name prefix of the outermost enhancer's weights (`model{n}_`): the part that trains
    /// while the rest is fixed (published `niter_fix_global`, which selects `model{n}`).
    pub fn outermost_prefix(&self) -> String {
        format!("model{}_", self.n_local_enhancers)
    }
}

impl ModuleT for LocalEnhancer {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_levels(x, train, false)
    }
}

/// `MultiscaleDiscriminator` options with pix2pixHD's defaults (`getIntermFeat` is
/// `not no_ganFeat_loss`; `use_sigmoid` is `no_lsgan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MultiscaleOptions {
    pub input_nc: usize,
    pub ndf: usize,
    #[serde(rename = "n_layers_D")]
    pub n_layers: usize,
    #[serde(rename = "num_D")]
    pub num_d: usize,
    pub norm: NormKind,
    #[serde(rename = "getIntermFeat")]
    pub intermediate_features: bool,
    pub use_sigmoid: bool,
}

impl Default for MultiscaleOptions {
    fn default() -> Self {
        Self {
            input_nc: 39,
            ndf: 64,
            n_layers: 3,
            num_d: 2,
            norm: NormKind::Instance,
            intermediate_features: true,
            use_sigmoid: false,
        }
    }
}

/// pix2pixHD `NLayerDiscriminator` as groups of layers; each group's output is a feature.
/// Without intermediate features it is one group.
#[derive(Debug, Clone)]
struct NLayerHd {
    groups: Vec<Sequential>,
}

/// Appends the layers of group `group` (0 = first conv, `n_layers + 1` = prediction conv,
/// `n_layers + 2` = sigmoid) to `seq`.
fn nlayer_group<'a>(
    opts: &MultiscaleOptions,
    group: usize,
    seq: SequentialBuilder<'a>,
) -> Result<SequentialBuilder<'a>> {
    // pix2pixHD uses padding ceil((4 - 1) / 2) = 2, unlike pix2pix's 1.
    let channels = |n: usize| (opts.ndf << n.min(30)).min(512);
    let last_conv = opts.n_layers + 1;
    Ok(match group {
        0 => seq
            .conv(ConvGeometry::new(opts.input_nc, opts.ndf, 4, 2, 2), true)?
            .leaky_relu(0.2),
        g if g < last_conv => {
            let stride = if g == opts.n_layers { 1 } else { 2 };
            seq.conv(
                ConvGeometry::new(channels(g - 1), channels(g), 4, stride, 2),
                true,
            )?
            .norm(opts.norm, channels(g))?
            .leaky_relu(0.2)
        }
        g if g == last_conv => {
            seq.conv(ConvGeometry::new(channels(opts.n_layers), 1, 4, 1, 2), true)?
        }
        _ => seq.sigmoid(),
    })
}

impl NLayerHd {
    fn new(opts: &MultiscaleOptions, scale: usize, vb: &VarBuilder) -> Result<Self> {
        if opts.intermediate_features {
            // The published code registers only n_layers + 2 groups: its sigmoid is never run.
            let groups = (0..opts.n_layers + 2)
                .map(|j| {
                    let seq = SequentialBuilder::new(vb.pp(format!("scale{scale}_layer{j}")));
                    nlayer_group(opts, j, seq).map(SequentialBuilder::build)
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Self { groups });
        }
        let n_groups = opts.n_layers + 2 + usize::from(opts.use_sigmoid);
        let mut seq = SequentialBuilder::new(vb.pp(format!("layer{scale}")));
        for j in 0..n_groups {
            seq = nlayer_group(opts, j, seq)?;
        }
        Ok(Self {
            groups: vec![seq.build()],
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Vec<Tensor>> {
        let mut features = Vec::with_capacity(self.groups.len());
        let mut y = x.clone();
        for group in &self.groups {
            y = group.forward_t(&y, train)?;
            features.push(y.clone());
        }
        Ok(features)
    }
}

/// pix2pixHD `MultiscaleDiscriminator`: `num_D` discriminators on successively halved inputs.
#[derive(Debug, Clone)]
pub struct MultiscaleDiscriminator {
    /// Index `i` sees the input downsampled `i` times (PyTorch's `scale{num_D-1-i}`).
    discriminators: Vec<NLayerHd>,
}

impl MultiscaleDiscriminator {
    pub fn new(options: &MultiscaleOptions, vb: VarBuilder) -> Result<Self> {
        let num_d = options.num_d;
        let discriminators = (0..num_d)
            .map(|i| NLayerHd::new(options, num_d - 1 - i, &vb))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { discriminators })
    }

    /// Per discriminator (full resolution first), its layer outputs; the last is the prediction.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Vec<Vec<Tensor>>> {
        let mut input = x.clone();
        let mut results = Vec::with_capacity(self.discriminators.len());
        for (i, discriminator) in self.discriminators.iter().enumerate() {
            results.push(discriminator.forward_t(&input, train)?);
            if i + 1 < self.discriminators.len() {
                input = avg_pool3_s2_exclude_pad(&input)?;
            }
        }
        Ok(results)
    }
}
