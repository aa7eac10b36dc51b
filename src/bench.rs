//! `scenepaint bench`: generator forward timings (batch 1, random weights, eval mode), the
//! median of repeated runs after a warm-up, with convolution FLOP/s from the layers' counter.
//! Add a case with one entry in [`default_cases`].
use std::time::Instant;

use candle_core::{Device, Tensor};
use serde::Serialize;
use serde_json::json;

use crate::nets::bundle::{Generator, NetKind};
use crate::nets::layers::count_conv_flops;
use crate::Result;

/// One benchmarked generator: its family, options and input (channels, height, width).
#[derive(Debug, Clone)]
pub struct BenchCase {
    pub name: String,
    pub net: NetKind,
    pub options: serde_json::Value,
    pub input_chw: (usize, usize, usize),
}

/// The benchmark table. SPADE rows (ngf 64 at 256x256 with label_nc 151 and 10, ngf 16) join
/// once `NetKind::Spade` builds.
pub fn default_cases() -> Vec<BenchCase> {
    vec![
        BenchCase {
            name: "pix2pixhd_global ngf64 512x256".into(),
            net: NetKind::Pix2pixhdGlobal,
            options: json!({"input_nc": 36, "ngf": 64, "n_downsample_global": 4, "n_blocks_global": 9}),
            input_chw: (36, 256, 512),
        },
        BenchCase {
            name: "pix2pix unet_256 ngf64 256x256".into(),
            net: NetKind::Pix2pixUnet,
            options: json!({"input_nc": 3, "num_downs": 8, "ngf": 64, "norm": "batch"}),
            input_chw: (3, 256, 256),
        },
        spade_case(64, 151),
        spade_case(64, 10),
        spade_case(16, 10),
    ]
}

/// SPADE at 256x256 without VAE (the ADE20K configuration: syncbatch SPADE, spectral norm),
/// fed a one-hot-sized input of `label_nc` channels.
fn spade_case(ngf: usize, label_nc: usize) -> BenchCase {
    BenchCase {
        name: format!("spade ngf{ngf} label_nc{label_nc} 256x256"),
        net: NetKind::Spade,
        options: json!({
            "ngf": ngf, "label_nc": label_nc, "contain_dontcare_label": false,
            "no_instance": true, "use_vae": false, "crop_size": 256, "aspect_ratio": 1.0,
            "num_upsampling_layers": "normal", "norm_G": "spectralspadesyncbatch3x3",
        }),
        input_chw: (label_nc, 256, 256),
    }
}

/// The measurement of one case.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub name: String,
    pub median_ms: f64,
    pub min_ms: f64,
    pub runs: usize,
    pub conv_gflop: f64,
    pub gflop_per_s: f64,
}

/// Times `case`: one warm-up forward, then `runs` timed forwards.
pub fn run_case(case: &BenchCase, runs: usize, device: &Device) -> Result<BenchResult> {
    let (generator, _weights) = Generator::random(case.net, &case.options, device)?;
    let (c, h, w) = case.input_chw;
    let input = Tensor::randn(0f32, 1.0, (1, c, h, w), device)?;
    let (warm_up, flops) = count_conv_flops(|| generator.forward(&input, None));
    warm_up?;
    let mut times_ms = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let output = generator.forward(&input, None)?;
        device.synchronize()?;
        drop(output);
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times_ms.sort_by(f64::total_cmp);
    let median_ms = median(&times_ms);
    let conv_gflop = flops as f64 / 1e9;
    Ok(BenchResult {
        name: case.name.clone(),
        median_ms,
        min_ms: times_ms[0],
        runs: times_ms.len(),
        conv_gflop,
        gflop_per_s: conv_gflop / (median_ms / 1e3),
    })
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// One line of the human-readable table.
pub fn format_row(result: &BenchResult) -> String {
    format!(
        "{:<36} {:>10.1} ms (min {:>8.1}, {} runs) {:>8.2} GFLOP {:>7.1} GFLOP/s",
        result.name,
        result.median_ms,
        result.min_ms,
        result.runs,
        result.conv_gflop,
        result.gflop_per_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), 3.0);
    }

    #[test]
    fn flop_count_matches_the_analytic_conv_count() {
        // A global generator with one down/up level: count the MACs by hand.
        let case = BenchCase {
            name: "tiny".into(),
            net: NetKind::Pix2pixhdGlobal,
            options: json!({"input_nc": 2, "output_nc": 3, "ngf": 4, "n_downsample_global": 1, "n_blocks_global": 1}),
            input_chw: (2, 8, 8),
        };
        let result = run_case(&case, 1, &Device::Cpu).unwrap();
        let px = 64.0;
        let macs = px * 4.0 * 2.0 * 49.0      // conv7 2->4 at 8x8
            + px / 4.0 * 8.0 * 4.0 * 9.0      // conv3 s2 4->8 at 4x4
            + 2.0 * px / 4.0 * 8.0 * 8.0 * 9.0 // res block: two conv3 8->8 at 4x4
            + px / 4.0 * 8.0 * 4.0 * 9.0      // conv transpose 8->4 from 4x4 (per input pixel)
            + px * 3.0 * 4.0 * 49.0; // conv7 4->3 at 8x8
        assert!(
            (result.conv_gflop * 1e9 - 2.0 * macs).abs() < 0.5,
            "{} vs {}",
            result.conv_gflop * 1e9,
            2.0 * macs
        );
        assert!(result.median_ms > 0.0 && result.gflop_per_s > 0.0);
    }
}
