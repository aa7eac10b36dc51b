//! [`Planes`]: one sample's activations, channel-major (CHW, like one NCHW batch item), the
//! currency of the fast path; conversion from and to Candle tensors at the boundaries.
use candle_core::{DType, Device, Tensor};

use super::FastError;

/// One sample's activations: `data[(c * height + y) * width + x]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

/// Borrowed planes of the same layout: one sample of a batch, read where it lies.
#[derive(Debug, Clone, Copy)]
pub struct PlaneView<'a> {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: &'a [f32],
}

impl<'a> PlaneView<'a> {
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    pub fn channel(&self, c: usize) -> &'a [f32] {
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }
}

impl Planes {
    /// These planes, borrowed.
    pub fn view(&self) -> PlaneView<'_> {
        PlaneView {
            channels: self.channels,
            height: self.height,
            width: self.width,
            data: &self.data,
        }
    }

    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
            data: vec![0.0; channels * height * width],
        }
    }

    /// Wraps `data`, checking its length.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        data: Vec<f32>,
    ) -> Result<Self, FastError> {
        if data.len() != channels * height * width {
            return Err(FastError::shape(
                "planes",
                format!("{channels}x{height}x{width} values"),
                data.len(),
            ));
        }
        Ok(Self {
            channels,
            height,
            width,
            data,
        })
    }

    /// Values per channel.
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    pub fn channel(&self, c: usize) -> &[f32] {
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }

    /// The samples of an (N, C, H, W) tensor.
    pub fn from_batch(tensor: &Tensor) -> Result<Vec<Self>, FastError> {
        let (n, c, h, w) = tensor.dims4()?;
        let values = tensor
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let per = c * h * w;
        (0..n)
            .map(|i| Self::new(c, h, w, values[i * per..(i + 1) * per].to_vec()))
            .collect()
    }

    /// Stacks samples of one shape into an (N, C, H, W) tensor.
    pub fn to_batch(samples: Vec<Self>, device: &Device) -> Result<Tensor, FastError> {
        let Some(first) = samples.first() else {
            return Err(FastError::shape("batch", "at least one sample", 0));
        };
        let (c, h, w) = (first.channels, first.height, first.width);
        let n = samples.len();
        let mut values = Vec::with_capacity(n * c * h * w);
        for sample in samples {
            if (sample.channels, sample.height, sample.width) != (c, h, w) {
                return Err(FastError::shape(
                    "batch sample",
                    format!("{c}x{h}x{w}"),
                    format!("{}x{}x{}", sample.channels, sample.height, sample.width),
                ));
            }
            values.extend_from_slice(&sample.data);
        }
        Ok(Tensor::from_vec(values, (n, c, h, w), device)?)
    }
}

/// A Candle tensor's values as f32, row-major.
pub(crate) fn tensor_values(tensor: &Tensor) -> Result<Vec<f32>, FastError> {
    Ok(tensor
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}
