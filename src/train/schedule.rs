//! When a run sees what: the random generator of each iteration and the order of the pairs
//! in each epoch, both drawn from the config's seed so that `--resume` continues exactly
//! (ChaCha8 on stream `iteration + 1`; the data order of epoch `e` from a second seed on
//! stream `e`), and the crop and flip the config asks for.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::data::Augment;

/// The generator of iteration `iteration`'s random draws.
pub fn step_rng(seed: u64, iteration: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(iteration + 1);
    rng
}

/// Dataset indices of the examples of one batch: each epoch visits every pair once in an
/// order drawn from the seed.
pub fn batch_indices(
    seed: u64,
    iteration: u64,
    batch_size: usize,
    pairs: usize,
) -> (u64, Vec<usize>) {
    let first = iteration * batch_size as u64;
    let mut cached: Option<(u64, Vec<usize>)> = None;
    let indices = (0..batch_size as u64)
        .map(|k| {
            let position = first + k;
            let epoch = position / pairs as u64;
            if cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut order: Vec<usize> = (0..pairs).collect();
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0da7_a5ee_d000_0001);
                rng.set_stream(epoch);
                order.shuffle(&mut rng);
                cached = Some((epoch, order));
            }
            cached
                .as_ref()
                .map_or(0, |(_, order)| order[(position % pairs as u64) as usize])
        })
        .collect();
    (first / pairs as u64, indices)
}

pub fn augment_of(config: &TrainConfig) -> Augment {
    Augment {
        load_width: config.load_width,
        load_height: config.load_height,
        crop_width: config.crop_width,
        crop_height: config.crop_height,
        flip: config.flip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_visits_every_pair_once() {
        let mut seen = Vec::new();
        for iteration in 0..5 {
            let (epoch, indices) = batch_indices(9, iteration, 2, 5);
            assert_eq!(epoch, iteration * 2 / 5);
            seen.extend(indices);
        }
        let (first, second) = seen.split_at(5);
        let sorted = |s: &[usize]| {
            let mut v = s.to_vec();
            v.sort();
            v
        };
        assert_eq!(sorted(first), vec![0, 1, 2, 3, 4]);
        assert_eq!(sorted(second), vec![0, 1, 2, 3, 4]);
        assert_ne!(first, second, "each epoch draws a new order");
    }
}
