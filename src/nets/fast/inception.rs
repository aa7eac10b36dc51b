//! The FID Inception network (`nets/inception.rs`, whose [`graph`] it runs) on the fast path's
//! kernels: each conv + batch norm + ReLU is one tiled product with the norm folded into the
//! weights and the ReLU in the epilogue; the 1x7 / 7x1 kernels use one gather table per axis,
//! so a rectangular kernel costs what its taps cost.
use std::collections::HashMap;

use super::conv::{convolve, Activation, Epilogue};
use super::gather::{AxisTable, PadMode};
use super::ops::{concat_channels, pool3, Pool};
use super::planes::Planes;
use super::{values, FastError};
use crate::nets::inception::{graph, run, GraphOps, InceptionWeights, Node, FEATURES, INPUT_SIDE};

#[derive(Debug, Clone)]
struct RectConv {
    in_channels: usize,
    kernel: (usize, usize),
    stride: usize,
    padding: (usize, usize),
    /// (out, in * kh * kw), OIHW flattened.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl RectConv {
    fn forward(&self, x: &Planes) -> Result<Planes, FastError> {
        if x.channels != self.in_channels {
            return Err(FastError::shape(
                "FID conv input channels",
                self.in_channels,
                x.channels,
            ));
        }
        let axis = |len: usize, kernel: usize, pad: usize| -> Result<AxisTable, FastError> {
            let out = (len + 2 * pad)
                .checked_sub(kernel)
                .map(|s| s / self.stride + 1)
                .ok_or_else(|| {
                    FastError::shape(
                        "FID conv input",
                        format!("a side of at least {kernel}"),
                        len,
                    )
                })?;
            AxisTable::conv(len, out, kernel, self.stride, pad, PadMode::Zero)
        };
        let rows = axis(x.height, self.kernel.0, self.padding.0)?;
        let cols = axis(x.width, self.kernel.1, self.padding.1)?;
        Ok(convolve(
            x,
            &rows,
            &cols,
            &self.weight,
            &self.bias,
            Epilogue::activation(Activation::Relu),
        ))
    }
}

/// The FID network for the CPU.
#[derive(Debug, Clone)]
pub struct FastInception {
    convs: HashMap<String, RectConv>,
    graph: Node,
}

impl FastInception {
    pub fn new(weights: &InceptionWeights) -> Result<Self, FastError> {
        let mut convs = HashMap::new();
        for (path, conv) in &weights.convs {
            let (_, in_channels, kh, kw) = conv.weight.dims4()?;
            convs.insert(
                path.clone(),
                RectConv {
                    in_channels,
                    kernel: (kh, kw),
                    stride: conv.stride,
                    padding: conv.padding,
                    weight: values(&conv.weight)?,
                    bias: values(&conv.bias)?,
                },
            );
        }
        Ok(Self {
            convs,
            graph: graph(),
        })
    }

    /// The 2048 features of one preprocessed image (3 x 299 x 299 values).
    pub fn features(&self, input: &[f32]) -> Result<Vec<f32>, FastError> {
        let x = Planes::new(3, INPUT_SIDE, INPUT_SIDE, input.to_vec())?;
        let out = run(self, &self.graph, &x)?;
        if out.data.len() != FEATURES {
            return Err(FastError::shape("FID features", FEATURES, out.data.len()));
        }
        Ok(out.data)
    }
}

impl GraphOps for FastInception {
    type Value = Planes;
    type Error = FastError;

    fn conv(&self, path: &str, x: &Planes) -> Result<Planes, FastError> {
        self.convs
            .get(path)
            .ok_or_else(|| {
                FastError::Unsupported(format!("FID convolution `{path}` (not loaded)"))
            })?
            .forward(x)
    }

    fn max_pool3(&self, x: &Planes, stride: usize, pad: usize) -> Result<Planes, FastError> {
        Ok(pool3(x, stride, pad, Pool::Max))
    }

    fn avg_pool3(&self, x: &Planes) -> Result<Planes, FastError> {
        Ok(pool3(x, 1, 1, Pool::MeanExcludePad))
    }

    fn global_mean8(&self, x: &Planes) -> Result<Planes, FastError> {
        if (x.height, x.width) != (8, 8) {
            return Err(FastError::shape(
                "final FID pool",
                "8x8",
                format!("{}x{}", x.height, x.width),
            ));
        }
        let data = (0..x.channels)
            .map(|c| x.channel(c).iter().sum::<f32>() / 64.0)
            .collect();
        Planes::new(x.channels, 1, 1, data)
    }

    fn concat(&self, parts: Vec<Planes>) -> Result<Planes, FastError> {
        concat_channels(&parts.iter().collect::<Vec<_>>())
    }
}
