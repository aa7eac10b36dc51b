//! Label maps to network inputs and network outputs to images, as the published test scripts
//! prepare them: one-hot class channels (+ an instance edge channel) for pix2pixHD and SPADE,
//! the colour label image scaled to [-1, 1] for pix2pix; `tanh` outputs map [-1, 1] to 0..=255.
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How raw label ids become one-hot channels: the one rule the painter's encoding (here),
/// training's label tensors (`train::data`) and a bundle's `model.json` all use. Datasets whose
/// ids are not channels carry the published data loaders' mapping: `dontcare_id` goes to the
/// last channel (COCO-Stuff 255, ADE20K 0) and `shift_down` moves every other id down by one
/// (ADE20K); an id that then lands outside the classes has no channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelChannels {
    /// One-hot channels, the "don't care" channel included (the published `label_nc` +
    /// `contain_dontcare_label`). Named `classes` in `model.json`.
    #[serde(rename = "classes")]
    pub channels: usize,
    /// Raw id whose pixels go to the "don't care" channel, the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dontcare_id: Option<u16>,
    /// ADE20K: every other id moves down by one (`label - 1`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shift_down: bool,
}

impl LabelChannels {
    /// Ids that are already channel numbers: `label_nc` channels, no "don't care", no shift.
    pub fn plain(label_nc: usize) -> Self {
        Self {
            channels: label_nc,
            dontcare_id: None,
            shift_down: false,
        }
    }

    /// Classes without the "don't care" channel (the published `label_nc`).
    pub fn label_nc(&self) -> usize {
        self.channels - usize::from(self.contains_dontcare())
    }

    /// The published `contain_dontcare_label`.
    pub fn contains_dontcare(&self) -> bool {
        self.dontcare_id.is_some()
    }

    /// The channel of a raw id; `None` when it has none.
    pub fn channel(&self, id: u16) -> Option<usize> {
        if Some(id) == self.dontcare_id {
            return self.channels.checked_sub(1);
        }
        usize::from(id)
            .checked_sub(usize::from(self.shift_down))
            .filter(|&channel| channel < self.label_nc())
    }

    /// The raw id shown for a channel (inverse of [`Self::channel`]), for drawing label maps.
    pub fn raw_id(&self, channel: u32) -> u16 {
        match self.dontcare_id {
            Some(id) if channel as usize == self.label_nc() => id,
            _ => (channel + u32::from(self.shift_down)).min(u32::from(u16::MAX)) as u16,
        }
    }
}

/// How class ids become the generator's input; stored in a bundle's `model.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputEncoding {
    /// Channel [`LabelChannels::channel`] of each id is 1, followed, with `instance_edges`, by
    /// an edge map: 1 where a 4-neighbour has another id. Without instance maps, class regions
    /// stand in for instances.
    OneHot {
        #[serde(flatten)]
        labels: LabelChannels,
        instance_edges: bool,
    },
    /// The label map drawn in its palette colours, RGB scaled from 0..=255 to [-1, 1]: what the
    /// published pix2pix models (facades, cityscapes labels->photo) were trained on.
    ColourImage,
}

impl InputEncoding {
    /// One-hot over ids that are already channel numbers (no dontcare id, no shift).
    pub fn one_hot(classes: usize, instance_edges: bool) -> Self {
        Self::OneHot {
            labels: LabelChannels::plain(classes),
            instance_edges,
        }
    }

    pub fn channels(&self) -> usize {
        match self {
            Self::OneHot {
                labels,
                instance_edges,
            } => labels.channels + usize::from(*instance_edges),
            Self::ColourImage => 3,
        }
    }
}

/// 1 where a 4-neighbour has a different id (SPADE's / pix2pixHD's `get_edges`).
pub fn edge_map(ids: &[u16], width: usize, height: usize) -> Vec<f32> {
    let mut edges = vec![0f32; width * height];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            if x + 1 < width && ids[i] != ids[i + 1] {
                edges[i] = 1.0;
                edges[i + 1] = 1.0;
            }
            if y + 1 < height && ids[i] != ids[i + width] {
                edges[i] = 1.0;
                edges[i + width] = 1.0;
            }
        }
    }
    edges
}

/// A (1, C, H, W) input tensor for `encoding`; `colour_of` gives a class's palette colour.
pub fn encode(
    ids: &[u16],
    width: usize,
    height: usize,
    encoding: &InputEncoding,
    colour_of: impl Fn(u16) -> [u8; 3],
    device: &Device,
) -> Result<Tensor> {
    let plane = width * height;
    if ids.len() != plane {
        return Err(Error::msg(format!(
            "label map has {} ids, expected {width}x{height} = {plane}",
            ids.len()
        )));
    }
    let mut data = vec![0f32; encoding.channels() * plane];
    match encoding {
        InputEncoding::OneHot {
            labels,
            instance_edges,
        } => {
            let classes = labels.channels;
            for (i, &id) in ids.iter().enumerate() {
                let Some(channel) = labels.channel(id) else {
                    return Err(Error::msg(format!(
                        "class id {id} at pixel ({}, {}) is outside the model's {classes} classes",
                        i % width,
                        i / width
                    )));
                };
                data[channel * plane + i] = 1.0;
            }
            if *instance_edges {
                data[classes * plane..].copy_from_slice(&edge_map(ids, width, height));
            }
        }
        InputEncoding::ColourImage => {
            for (i, &id) in ids.iter().enumerate() {
                for (c, value) in colour_of(id).iter().enumerate() {
                    data[c * plane + i] = f32::from(*value) / 127.5 - 1.0;
                }
            }
        }
    }
    Ok(Tensor::from_vec(
        data,
        (1, encoding.channels(), height, width),
        device,
    )?)
}

/// The first image of a (N, 3, H, W) tensor in [-1, 1] as 8-bit RGB.
pub fn to_rgb_image(image: &Tensor) -> Result<image::RgbImage> {
    let (_, channels, height, width) = image.dims4()?;
    if channels != 3 {
        return Err(Error::msg(format!(
            "generator output has {channels} channels, expected 3"
        )));
    }
    let planes = image
        .get(0)?
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let plane = height * width;
    let (r, g, b) = (
        &planes[..plane],
        &planes[plane..2 * plane],
        &planes[2 * plane..],
    );
    let level = |v: f32| ((v + 1.0) * 127.5).clamp(0.0, 255.0).round() as u8;
    let mut bytes = Vec::with_capacity(3 * plane);
    for ((&r, &g), &b) in r.iter().zip(g).zip(b) {
        bytes.extend_from_slice(&[level(r), level(g), level(b)]);
    }
    image::RgbImage::from_raw(width as u32, height as u32, bytes).ok_or_else(|| {
        Error::msg(format!(
            "cannot build a {width}x{height} image from the output"
        ))
    })
}

/// An 8-bit RGB image as a (1, 3, H, W) tensor in [-1, 1] (the SPADE encoder's input).
pub fn from_rgb_image(image: &image::RgbImage, device: &Device) -> Result<Tensor> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let hwc = Tensor::from_vec(image.as_raw().clone(), (height, width, 3), device)?;
    let chw = hwc.permute((2, 0, 1))?.to_dtype(candle_core::DType::F32)?;
    Ok(((chw / 127.5)? - 1.0)?.unsqueeze(0)?)
}

/// `value` rounded to the nearest positive multiple of `multiple`.
pub fn nearest_multiple(value: usize, multiple: usize) -> usize {
    (((value + multiple / 2) / multiple).max(1)) * multiple
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_bytes_equal_the_tensor_formula_bit_for_bit() {
        // Out of range, halves that round, and a spread of values in between.
        let mut values: Vec<f32> = vec![
            -1.5,
            -1.0,
            1.0,
            1.2,
            0.0,
            -0.0,
            1.0 / 255.0,
            3.0 / 255.0 - 1.0,
        ];
        values.extend((0..3 * 7 * 5 - values.len()).map(|i| (i as f32 * 0.0371).sin()));
        let image = Tensor::from_vec(values, (1, 3, 7, 5), &Device::Cpu).unwrap();
        let formula = ((image
            .get(0)
            .unwrap()
            .permute((1, 2, 0))
            .unwrap()
            .flatten_all()
            .unwrap()
            + 1.0)
            .unwrap()
            * 127.5)
            .unwrap()
            .clamp(0.0, 255.0)
            .unwrap();
        let expected: Vec<u8> = formula
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.round() as u8)
            .collect();
        assert_eq!(to_rgb_image(&image).unwrap().into_raw(), expected);
    }

    #[test]
    fn one_hot_sets_one_channel_per_pixel_and_edges_mark_both_sides() {
        let ids = [0u16, 1, 1, 2];
        let enc = InputEncoding::one_hot(3, true);
        let t = encode(&ids, 4, 1, &enc, |_| [0; 3], &Device::Cpu).unwrap();
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(&v[0..4], &[1., 0., 0., 0.]);
        assert_eq!(&v[4..8], &[0., 1., 1., 0.]);
        assert_eq!(&v[8..12], &[0., 0., 0., 1.]);
        assert_eq!(&v[12..16], &[1., 1., 1., 1.]);
        let err = encode(&[3u16], 1, 1, &enc, |_| [0; 3], &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("class id 3"), "{err}");
    }

    #[test]
    fn published_id_mappings_put_dontcare_last_and_shift_ade_ids() {
        let channel_of = |enc: &InputEncoding, id: u16| {
            let t = encode(&[id], 1, 1, enc, |_| [0; 3], &Device::Cpu).unwrap();
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            v.iter().position(|&x| x == 1.0).unwrap()
        };
        let ade = InputEncoding::OneHot {
            labels: LabelChannels {
                channels: 151,
                dontcare_id: Some(0),
                shift_down: true,
            },
            instance_edges: false,
        };
        assert_eq!(channel_of(&ade, 1), 0, "ADE wall (1) is channel 0");
        assert_eq!(channel_of(&ade, 150), 149);
        assert_eq!(
            channel_of(&ade, 0),
            150,
            "unlabeled is the don't-care channel"
        );
        let coco = InputEncoding::OneHot {
            labels: LabelChannels {
                channels: 183,
                dontcare_id: Some(255),
                shift_down: false,
            },
            instance_edges: false,
        };
        assert_eq!(channel_of(&coco, 0), 0);
        assert_eq!(channel_of(&coco, 255), 182);
        let json = serde_json::to_value(&ade).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "one_hot", "classes": 151, "instance_edges": false,
                "dontcare_id": 0, "shift_down": true}),
            "model.json's field names"
        );
        assert_eq!(serde_json::from_value::<InputEncoding>(json).unwrap(), ade);
        assert_eq!(
            serde_json::to_value(InputEncoding::one_hot(9, true)).unwrap(),
            serde_json::json!({"kind": "one_hot", "classes": 9, "instance_edges": true})
        );
        let plain: InputEncoding =
            serde_json::from_str(r#"{"kind":"one_hot","classes":9,"instance_edges":false}"#)
                .unwrap();
        assert_eq!(
            channel_of(&plain, 8),
            8,
            "older bundles keep ids as channels"
        );
    }

    #[test]
    fn colour_image_scales_to_minus_one_one_and_back() {
        let t = encode(
            &[0u16, 1],
            2,
            1,
            &InputEncoding::ColourImage,
            |id| [255 * id as u8, 0, 255],
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![-1., 1., -1., -1., 1., 1.]
        );
        let img = to_rgb_image(&t).unwrap();
        assert_eq!(img.as_raw(), &vec![0, 0, 255, 255, 0, 255]);
        let back = from_rgb_image(&img, &Device::Cpu).unwrap();
        assert_eq!(
            back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![-1., 1., -1., -1., 1., 1.]
        );
    }

    #[test]
    fn sizes_round_to_the_nearest_multiple() {
        assert_eq!(nearest_multiple(300, 256), 256);
        assert_eq!(nearest_multiple(100, 256), 256);
        assert_eq!(nearest_multiple(400, 256), 512);
    }
}
