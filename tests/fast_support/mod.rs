//! Random weights and painted-looking label maps for the fast-path tests (`fast_cpu.rs`,
//! `fast_incremental.rs`).
#![allow(clippy::unwrap_used, dead_code)] // each test binary uses part of it
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The library's seeded init ([`scenepaint::nets::seeded::seed_weights`]).
pub fn seed_weights(varmap: &candle_nn::VarMap, seed: u64) {
    scenepaint::nets::seeded::seed_weights(varmap, seed).unwrap();
}

pub fn random_input(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// A painted-looking label map: each pixel takes the class of its nearest of a few seeds.
pub fn region_ids(height: usize, width: usize, classes: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let seeds: Vec<(f32, f32, usize)> = (0..6)
        .map(|_| {
            (
                rng.random_range(0.0..height as f32),
                rng.random_range(0.0..width as f32),
                rng.random_range(0..classes),
            )
        })
        .collect();
    (0..height * width)
        .map(|p| {
            let (y, x) = ((p / width) as f32, (p % width) as f32);
            let nearest = seeds
                .iter()
                .min_by(|a, b| {
                    let da = (a.0 - y).powi(2) + (a.1 - x).powi(2);
                    let db = (b.0 - y).powi(2) + (b.1 - x).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            nearest.2
        })
        .collect()
}

/// One-hot (batch, classes [+ 1 edge channel], H, W) from region maps, one per sample.
pub fn one_hot_regions(batch: usize, classes: usize, edges: bool, h: usize, w: usize) -> Tensor {
    let channels = classes + usize::from(edges);
    let plane = h * w;
    let mut data = vec![0f32; batch * channels * plane];
    for b in 0..batch {
        let ids = region_ids(h, w, classes, 40 + b as u64);
        let sample = &mut data[b * channels * plane..(b + 1) * channels * plane];
        for (p, &id) in ids.iter().enumerate() {
            sample[id * plane + p] = 1.0;
        }
        if edges {
            let ids16: Vec<u16> = ids.iter().map(|&i| i as u16).collect();
            let e = scenepaint::nets::encoding::edge_map(&ids16, w, h);
            sample[classes * plane..].copy_from_slice(&e);
        }
    }
    Tensor::from_vec(data, (batch, channels, h, w), &Device::Cpu).unwrap()
}
