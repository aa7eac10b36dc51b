//! SPADE's semantic input: the one-hot label map (one channel per class, plus a "don't care"
//! channel when the dataset has one) followed by the instance boundary map. Follows
//! `preprocess_input` and `get_edges` of NVlabs/SPADE `models/pix2pix_model.py`.
//!
//! This is the tensor form, from label tensors of channel ids: training's data loader has
//! already turned raw ids into channels by `nets::encoding::LabelChannels`, the one rule the
//! painter's CPU form (`nets::encoding::encode`) uses too; a test (`train::data`) checks the
//! two agree on every id.
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::encoding::LabelChannels;
use crate::{Error, Result};

/// The options that decide the semantic input's channels (published option names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SemanticOptions {
    /// Number of classes, without the "don't care" class.
    pub label_nc: usize,
    /// The data has a "don't care" class stored as id `label_nc` (an extra one-hot channel).
    pub contain_dontcare_label: bool,
    /// No instance map: no boundary channel.
    pub no_instance: bool,
}

impl Default for SemanticOptions {
    fn default() -> Self {
        Self {
            label_nc: 182,
            contain_dontcare_label: false,
            no_instance: false,
        }
    }
}

impl SemanticOptions {
    /// The channels of data whose ids map by `labels`; `no_instance`: no boundary channel.
    pub fn for_labels(labels: &LabelChannels, no_instance: bool) -> Self {
        Self {
            label_nc: labels.label_nc(),
            contain_dontcare_label: labels.contains_dontcare(),
            no_instance,
        }
    }

    /// One-hot channels: `label_nc`, plus one for "don't care".
    pub fn label_channels(&self) -> usize {
        self.label_nc + usize::from(self.contain_dontcare_label)
    }

    /// All channels of the semantic input (`opt.semantic_nc` in the published code).
    pub fn semantic_nc(&self) -> usize {
        self.label_channels() + usize::from(!self.no_instance)
    }
}

/// One-hot encoding of an (N, 1, H, W) label map of class ids (any dtype holding integers)
/// over `channels` classes. An id outside the range is an error, not a silent all-zero pixel.
pub fn one_hot(label: &Tensor, channels: usize) -> Result<Tensor> {
    let (n, c, h, w) = label.dims4()?;
    if c != 1 {
        return Err(Error::msg(format!(
            "label map: expected shape (N, 1, H, W), found ({n}, {c}, {h}, {w})"
        )));
    }
    let ids = label.to_dtype(DType::F32)?;
    let max_id = ids.max_all()?.to_scalar::<f32>()?;
    let min_id = ids.min_all()?.to_scalar::<f32>()?;
    if min_id < 0.0 || max_id >= channels as f32 {
        return Err(Error::msg(format!(
            "label map: class ids must lie in 0..{channels}, found ids from {min_id} to {max_id}"
        )));
    }
    let classes = Tensor::arange(0u32, channels as u32, label.device())?
        .to_dtype(DType::F32)?
        .reshape((1, channels, 1, 1))?;
    Ok(ids.broadcast_eq(&classes)?.to_dtype(DType::F32)?)
}

/// 1 where a 4-neighbour differs along `dim` (2: rows, 3: columns), marking both pixels.
fn boundary_along(ids: &Tensor, dim: usize) -> Result<Tensor> {
    let len = ids.dim(dim)?;
    if len < 2 {
        return Ok(ids.zeros_like()?);
    }
    let differs = ids
        .narrow(dim, 1, len - 1)?
        .ne(&ids.narrow(dim, 0, len - 1)?)?
        .to_dtype(DType::F32)?;
    // The pixel after a change and the pixel before it are both on the boundary.
    let after = differs.pad_with_zeros(dim, 1, 0)?;
    let before = differs.pad_with_zeros(dim, 0, 1)?;
    Ok(after.maximum(&before)?)
}

/// Instance boundary map of an (N, 1, H, W) instance-id map: 1 where a 4-neighbour has
/// another id, else 0 (`get_edges` of the published code).
pub fn instance_edges(instance: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = instance.dims4()?;
    if c != 1 {
        return Err(Error::msg(format!(
            "instance map: expected shape (N, 1, H, W), found ({n}, {c}, {h}, {w})"
        )));
    }
    // Integer ids compare exactly; a float map holds integral ids, so the cast is exact.
    let ids = instance.to_dtype(DType::U32)?;
    let edges = boundary_along(&ids, 2)?.maximum(&boundary_along(&ids, 3)?)?;
    Ok(edges.to_dtype(DType::F32)?)
}

/// The semantic input (N, semantic_nc, H, W) from a label map and, unless `no_instance`, an
/// instance map of the same size.
pub fn semantic_input(
    label: &Tensor,
    instance: Option<&Tensor>,
    options: &SemanticOptions,
) -> Result<Tensor> {
    let one_hot = one_hot(label, options.label_channels())?;
    if options.no_instance {
        return Ok(one_hot);
    }
    let instance = instance.ok_or_else(|| {
        Error::msg(
            "semantic input: an instance map is required unless no_instance is set".to_string(),
        )
    })?;
    if instance.dims() != label.dims() {
        return Err(Error::msg(format!(
            "instance map: expected the label map's shape {:?}, found {:?}",
            label.dims(),
            instance.dims()
        )));
    }
    Ok(Tensor::cat(&[one_hot, instance_edges(instance)?], 1)?)
}

/// The semantic input (1, semantic_nc, height, width) of one painted label map of `u16` ids
/// (row-major), with an optional instance-id plane of the same size. Without instance ids but
/// with `no_instance` unset, every pixel is one instance (an all-zero boundary channel): the
/// painter has no instances, and a network trained with them still gets a valid input.
pub fn semantic_from_ids(
    ids: &[u16],
    instance_ids: Option<&[u32]>,
    width: usize,
    height: usize,
    options: &SemanticOptions,
    device: &Device,
) -> Result<Tensor> {
    let pixels = width * height;
    if ids.len() != pixels {
        return Err(Error::msg(format!(
            "label map: {width}x{height} needs {pixels} ids, found {}",
            ids.len()
        )));
    }
    let labels: Vec<u32> = ids.iter().map(|&id| u32::from(id)).collect();
    let label = Tensor::from_vec(labels, (1, 1, height, width), device)?;
    if options.no_instance {
        return semantic_input(&label, None, options);
    }
    let instance = match instance_ids {
        Some(plane) if plane.len() != pixels => {
            return Err(Error::msg(format!(
                "instance map: {width}x{height} needs {pixels} ids, found {}",
                plane.len()
            )))
        }
        Some(plane) => Tensor::from_slice(plane, (1, 1, height, width), device)?,
        None => Tensor::zeros((1, 1, height, width), DType::U32, device)?,
    };
    semantic_input(&label, Some(&instance), options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(no_instance: bool) -> SemanticOptions {
        SemanticOptions {
            label_nc: 3,
            contain_dontcare_label: true,
            no_instance,
        }
    }

    #[test]
    fn channels_count_dontcare_and_instance() {
        assert_eq!(options(false).semantic_nc(), 5);
        assert_eq!(options(true).semantic_nc(), 4);
    }

    #[test]
    fn one_hot_and_edges_of_a_small_map() {
        // 2x3 labels [[0,1,1],[3,3,1]]; instances split the right column from the rest.
        let ids = [0u16, 1, 1, 3, 3, 1];
        let instances = [7u32, 7, 8, 7, 7, 8];
        let sem =
            semantic_from_ids(&ids, Some(&instances), 3, 2, &options(false), &Device::Cpu).unwrap();
        assert_eq!(sem.dims4().unwrap(), (1, 5, 2, 3));
        let channel = |c: usize| {
            sem.get(0)
                .unwrap()
                .get(c)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        assert_eq!(channel(0), vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 0.0]]);
        assert_eq!(channel(1), vec![vec![0.0, 1.0, 1.0], vec![0.0, 0.0, 1.0]]);
        assert_eq!(channel(3), vec![vec![0.0, 0.0, 0.0], vec![1.0, 1.0, 0.0]]);
        assert_eq!(channel(4), vec![vec![0.0, 1.0, 1.0], vec![0.0, 1.0, 1.0]]);
    }

    #[test]
    fn out_of_range_ids_are_rejected() {
        let err = semantic_from_ids(&[0, 4], None, 2, 1, &options(true), &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("0..4"), "{err}");
    }

    #[test]
    fn missing_instances_give_an_empty_boundary_channel() {
        let sem =
            semantic_from_ids(&[0, 1, 2, 3], None, 2, 2, &options(false), &Device::Cpu).unwrap();
        let edges = sem
            .narrow(1, 4, 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(edges, 0.0);
    }
}
