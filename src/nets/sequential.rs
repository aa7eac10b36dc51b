//! A PyTorch-style `nn.Sequential` whose children are named by their index, so weight names
//! (`model.4.weight`) come out exactly as in a published `state_dict`: parameter-free layers
//! (padding, activations) still take an index, as they do in PyTorch.
use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{
    leaky_relu, reflection_pad2d, relu, Conv2d, ConvGeometry, ConvTranspose2d, Dropout, Norm2d,
    NormKind,
};

/// A padding layer type as pix2pixHD's `--padding_type` names them (`reflect`, `replicate`, `zero`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingType {
    Reflect,
    Replicate,
    Zero,
}

/// One child of a [`Sequential`].
#[derive(Debug, Clone)]
pub enum Layer {
    ReflectionPad(usize),
    ReplicationPad(usize),
    Conv(Conv2d),
    ConvTranspose(ConvTranspose2d),
    Norm(Norm2d),
    Relu,
    LeakyRelu(f64),
    Tanh,
    Sigmoid,
    Dropout(Dropout),
    /// pix2pixHD's `ResnetBlock`: `x + conv_block(x)`.
    Residual(Sequential),
}

impl ModuleT for Layer {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Self::ReflectionPad(pad) => reflection_pad2d(x, *pad),
            Self::ReplicationPad(pad) => {
                x.pad_with_same(2, *pad, *pad)?.pad_with_same(3, *pad, *pad)
            }
            Self::Conv(conv) => conv.forward(x),
            Self::ConvTranspose(conv) => conv.forward(x),
            Self::Norm(norm) => norm.forward_t(x, train),
            Self::Relu => relu(x),
            Self::LeakyRelu(slope) => leaky_relu(x, *slope),
            Self::Tanh => x.tanh(),
            Self::Sigmoid => candle_nn::ops::sigmoid(x),
            Self::Dropout(dropout) => dropout.forward_t(x, train),
            Self::Residual(block) => x + block.forward_t(x, train)?,
        }
    }
}

/// Children run in order.
#[derive(Debug, Clone, Default)]
pub struct Sequential {
    layers: Vec<Layer>,
}

impl Sequential {
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Appends the children of `other` (for networks that reuse a truncated sequence).
    pub fn extend(&mut self, other: Sequential) {
        self.layers.extend(other.layers);
    }
}

impl ModuleT for Sequential {
    /// A norm or a convolution directly followed by a (leaky) ReLU runs as one fused op when
    /// training on the fast path ([`Norm2d::forward_act`], [`Conv2d::forward_leaky`]); every
    /// other layer runs on its own.
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut y = x.clone();
        let mut i = 0;
        while i < self.layers.len() {
            let slope = match self.layers.get(i + 1) {
                Some(Layer::Relu) => Some(0.0),
                Some(Layer::LeakyRelu(slope)) => Some(*slope),
                _ => None,
            };
            if let (Layer::Norm(norm), Some(slope)) = (&self.layers[i], slope) {
                if let Some(fused) = norm.forward_act(&y, train, slope) {
                    y = fused?;
                    i += 2;
                    continue;
                }
            }
            if let (Layer::Conv(conv), Some(slope)) = (&self.layers[i], slope) {
                y = conv.forward_leaky(&y, slope)?;
                i += 2;
                continue;
            }
            y = self.layers[i].forward_t(&y, train)?;
            i += 1;
        }
        Ok(y)
    }
}

/// Builds a [`Sequential`] whose `i`-th child loads its weights under `prefix.i`.
pub struct SequentialBuilder<'a> {
    vb: VarBuilder<'a>,
    layers: Vec<Layer>,
    next_index: usize,
}

impl<'a> SequentialBuilder<'a> {
    pub fn new(vb: VarBuilder<'a>) -> Self {
        Self {
            vb,
            layers: Vec::new(),
            next_index: 0,
        }
    }

    /// Starts numbering at `first_index` (a sequence continued across PyTorch containers).
    pub fn starting_at(vb: VarBuilder<'a>, first_index: usize) -> Self {
        Self {
            vb,
            layers: Vec::new(),
            next_index: first_index,
        }
    }

    /// The builder of the child the next layer will be.
    pub fn child_vb(&self) -> VarBuilder<'a> {
        self.vb.pp(self.next_index.to_string())
    }

    pub fn push(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self.next_index += 1;
        self
    }

    pub fn conv(self, geometry: ConvGeometry, bias: bool) -> Result<Self> {
        let conv = Conv2d::new(geometry, bias, self.child_vb())?;
        Ok(self.push(Layer::Conv(conv)))
    }

    pub fn conv_transpose(
        self,
        geometry: ConvGeometry,
        output_padding: usize,
        bias: bool,
    ) -> Result<Self> {
        let conv = ConvTranspose2d::new(geometry, output_padding, bias, self.child_vb())?;
        Ok(self.push(Layer::ConvTranspose(conv)))
    }

    pub fn norm(self, kind: NormKind, channels: usize) -> Result<Self> {
        let norm = Norm2d::new(kind, channels, self.child_vb())?;
        Ok(self.push(Layer::Norm(norm)))
    }

    /// A padding layer, or nothing for zero padding (which the next conv does itself).
    pub fn pad(self, kind: PaddingType, pad: usize) -> Self {
        match kind {
            PaddingType::Reflect => self.push(Layer::ReflectionPad(pad)),
            PaddingType::Replicate => self.push(Layer::ReplicationPad(pad)),
            PaddingType::Zero => self,
        }
    }

    pub fn relu(self) -> Self {
        self.push(Layer::Relu)
    }

    pub fn leaky_relu(self, slope: f64) -> Self {
        self.push(Layer::LeakyRelu(slope))
    }

    pub fn tanh(self) -> Self {
        self.push(Layer::Tanh)
    }

    pub fn sigmoid(self) -> Self {
        self.push(Layer::Sigmoid)
    }

    pub fn next_index(&self) -> usize {
        self.next_index
    }

    pub fn build(self) -> Sequential {
        Sequential {
            layers: self.layers,
        }
    }
}
