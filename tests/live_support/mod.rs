//! A tiny test model for the live preview: a random-weight 1x1 convolution from the one-hot label
//! map to RGB (Candle), stored as a bundle in a temp dir (`model.json` + `generator.safetensors`),
//! so tests exercise the picker, the loader thread and the worker with a real tensor network.
#![allow(dead_code)]
use candle_core::{DType, Device, Tensor};
use scenepaint::app::models::ModelLoader;
use scenepaint::labelmap::LabelMap;
use scenepaint::labels::Palette;
use scenepaint::live::{ModelInfo, Style, Translator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Writes a bundle of the tiny model: `palette` classes, input `size` x `size`; with
/// `has_encoder` it takes a style code and has an encoder.
pub fn write_tiny_bundle(dir: &Path, palette: &str, size: u32, has_encoder: bool) -> PathBuf {
    write_tiny_bundle_with(dir, palette, size, has_encoder, has_encoder)
}

/// [`write_tiny_bundle`] with the style code and the encoder chosen apart (a VAE bundle whose
/// `encoder.safetensors` is missing takes seeds but no photos).
pub fn write_tiny_bundle_with(
    dir: &Path,
    palette: &str,
    size: u32,
    uses_style: bool,
    has_encoder: bool,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let classes = Palette::builtin(palette).unwrap().max_id() as usize + 1;
    let weight = Tensor::randn(0f32, 1.0, (3, classes), &Device::Cpu).unwrap();
    let tensors = HashMap::from([("conv.weight".to_string(), weight)]);
    candle_core::safetensors::save(&tensors, dir.join("generator.safetensors")).unwrap();
    let manifest = serde_json::json!({
        "palette": palette,
        "size": size,
        "style": uses_style,
        "encoder": has_encoder,
    });
    std::fs::write(dir.join("model.json"), manifest.to_string()).unwrap();
    dir.to_path_buf()
}

/// The tiny network: colour = sigmoid(W · onehot(id) + style bias).
pub struct TinyModel {
    weight: Tensor,
    /// Milliseconds each translation sleeps (tests of latest-wins).
    pub delay_ms: u64,
}

impl TinyModel {
    pub fn load(dir: &Path) -> (ModelInfo, TinyModel) {
        let text = std::fs::read_to_string(dir.join("model.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        let tensors =
            candle_core::safetensors::load(dir.join("generator.safetensors"), &Device::Cpu)
                .unwrap();
        let size = manifest["size"].as_u64().unwrap() as u32;
        let info = ModelInfo {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            palette: Palette::builtin(manifest["palette"].as_str().unwrap()).unwrap(),
            input_size: Some((size, size)),
            uses_style: manifest["style"].as_bool().unwrap(),
            has_encoder: manifest["encoder"].as_bool().unwrap(),
            // As the bundle loader says it for a VAE bundle without its encoder.
            style_photo_unavailable: (manifest["style"].as_bool().unwrap()
                && !manifest["encoder"].as_bool().unwrap())
            .then(|| "no encoder.safetensors: style from a photo is unavailable".to_string()),
            has_style_colours: false,
        };
        let weight = tensors["conv.weight"].clone();
        (
            info,
            TinyModel {
                weight,
                delay_ms: 0,
            },
        )
    }

    /// The colour the model gives class `id` with `style`.
    pub fn colour_of(&self, id: u16, style: &Style) -> [u8; 3] {
        let map = LabelMap::new(1, 1, id);
        let image = self.run(&map, style);
        image.get_pixel(0, 0).0
    }

    fn run(&self, labels: &LabelMap, style: &Style) -> image::RgbImage {
        let classes = self.weight.dim(1).unwrap();
        let n = labels.ids.len();
        let mut onehot = vec![0f32; classes * n];
        for (i, id) in labels.ids.iter().enumerate() {
            onehot[(*id as usize).min(classes - 1) * n + i] = 1.0;
        }
        let x = Tensor::from_vec(onehot, (classes, n), &Device::Cpu).unwrap();
        let bias = (style.seed % 7) as f64 * 0.3;
        let y = (self.weight.matmul(&x).unwrap() + bias).unwrap();
        let y = candle_nn::ops::sigmoid(&y).unwrap();
        let y = (y * 255.0).unwrap().to_dtype(DType::U8).unwrap();
        let planes = y.to_vec2::<u8>().unwrap();
        let mut raw = Vec::with_capacity(n * 3);
        for ((r, g), b) in planes[0].iter().zip(&planes[1]).zip(&planes[2]) {
            raw.extend([*r, *g, *b]);
        }
        image::RgbImage::from_raw(labels.width, labels.height, raw).unwrap()
    }
}

impl Translator for TinyModel {
    fn translate(
        &mut self,
        labels: &LabelMap,
        style: &Style,
        _in_stroke: bool,
    ) -> scenepaint::Result<image::RgbImage> {
        std::thread::sleep(std::time::Duration::from_millis(self.delay_ms));
        Ok(self.run(labels, style))
    }
}

/// Loads tiny bundles; counts loads.
#[derive(Default)]
pub struct TinyLoader;

impl ModelLoader for TinyLoader {
    fn load(
        &self,
        dir: &Path,
        _device: &Device,
    ) -> scenepaint::Result<(ModelInfo, Box<dyn Translator>)> {
        if !dir.join("generator.safetensors").is_file() {
            return Err(scenepaint::Error::msg(format!(
                "{}: no generator",
                dir.display()
            )));
        }
        let (info, model) = TinyModel::load(dir);
        Ok((info, Box::new(model)))
    }
}
