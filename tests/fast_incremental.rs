//! Incremental frames of the fast SPADE generator (`nets::fast::spade_incremental`): after
//! random strokes, fills and undo, an exact incremental frame equals a full frame; the cache
//! resets on a style or size change; an approximate (in-stroke) frame is followed by a full one
//! when an exact frame is asked for; instance-norm models always run full frames; edits planned
//! at a full frame's work run one; pix2pix and pix2pixHD live frames are their full frames.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use candle_core::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use scenepaint::nets::bundle::{Generator, NetKind};
use scenepaint::nets::fast::spade_generator::FastSpade;
use scenepaint::nets::fast::spade_incremental::Approximation;
use scenepaint::nets::fast::{FastGenerator, Planes};

mod fast_support;
use fast_support::{region_ids, seed_weights};

const CLASSES: usize = 6;

/// An in-stroke approximation: small changes stop; the coarsest level keeps its values.
const STROKE: Approximation = Approximation {
    tolerance: 0.05,
    frozen_from_factor: 32,
};

fn spade(norm_g: &str, use_vae: bool, seed: u64) -> FastSpade {
    let options = json!({"ngf": 4, "label_nc": CLASSES, "norm_G": norm_g, "spade_hidden_nc": 8,
        "no_instance": true, "contain_dontcare_label": false, "use_vae": use_vae, "z_dim": 16,
        "crop_size": 128, "aspect_ratio": 2.0});
    let (generator, varmap) = Generator::random(NetKind::Spade, &options, &Device::Cpu).unwrap();
    seed_weights(&varmap, seed);
    match FastGenerator::from_generator(&generator).unwrap() {
        FastGenerator::Spade(g) => g,
        _ => panic!("a SPADE generator must give a fast SPADE generator"),
    }
}

fn one_hot(ids: &[usize], height: usize, width: usize) -> Planes {
    let mut planes = Planes::zeros(CLASSES, height, width);
    for (p, &id) in ids.iter().enumerate() {
        planes.data[id * height * width + p] = 1.0;
    }
    planes
}

/// A disc of one class, as a brush dab paints it.
fn dab(ids: &mut [usize], width: usize, (cy, cx, radius): (i64, i64, i64), class: usize) {
    let height = (ids.len() / width) as i64;
    for y in (cy - radius).max(0)..(cy + radius + 1).min(height) {
        for x in (cx - radius).max(0)..(cx + radius + 1).min(width as i64) {
            if (y - cy).pow(2) + (x - cx).pow(2) <= radius * radius {
                ids[y as usize * width + x as usize] = class;
            }
        }
    }
}

fn max_abs_diff(a: &Planes, b: &Planes) -> f32 {
    assert_eq!(
        (a.channels, a.height, a.width),
        (b.channels, b.height, b.width)
    );
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn strokes_fills_and_undo_equal_full_frames_for_batch_norm_spade() {
    let (height, width) = (64, 128);
    for (generator, z) in [
        (
            spade("spectralspadesyncbatch3x3", true, 5),
            Some(vec![0.3f32; 16]),
        ),
        (spade("spadebatch3x3", false, 6), None),
        // The windows' modulation without signature tables (a map of many distinct vectors).
        (
            spade("spectralspadesyncbatch3x3", true, 8).with_dense_modulation(),
            Some(vec![-0.2f32; 16]),
        ),
    ] {
        // The same strokes for every generator.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut ids = region_ids(height, width, CLASSES, 21);
        let mut cache = None;
        let (_, first) = generator
            .forward_incremental(
                &one_hot(&ids, height, width),
                z.as_deref(),
                &mut cache,
                Approximation::EXACT,
            )
            .unwrap();
        assert!(first.full, "the first frame has no cache to reuse");
        let mut history = vec![ids.clone()];
        let mut partial_frames = 0;
        for step in 0..14 {
            match step {
                // A fill: the whole painting one class.
                6 => ids.iter_mut().for_each(|id| *id = 2),
                // Undo back to before the fill.
                7 | 12 => ids = history[history.len() - 2].clone(),
                _ => {
                    let centre = (
                        rng.random_range(0..64),
                        rng.random_range(0..128),
                        rng.random_range(1..6),
                    );
                    dab(&mut ids, width, centre, rng.random_range(0..CLASSES));
                }
            }
            history.push(ids.clone());
            let seg = one_hot(&ids, height, width);
            let (incremental, work) = generator
                .forward_incremental(&seg, z.as_deref(), &mut cache, Approximation::EXACT)
                .unwrap();
            let full = generator.forward(&seg, z.as_deref()).unwrap();
            let diff = max_abs_diff(&incremental, &full);
            assert!(
                diff < 1e-5,
                "step {step}: incremental differs from full by {diff:e} ({work:?})"
            );
            if step == 6 {
                assert!(
                    work.full,
                    "a fill plans a full frame's work and runs one: {work:?}"
                );
            }
            partial_frames += usize::from(!work.full);
        }
        assert!(
            partial_frames >= 12,
            "only {partial_frames} frames were incremental"
        );
    }
}

#[test]
fn a_change_that_misses_the_coarse_levels_recomputes_little() {
    let generator = spade("spectralspadesyncbatch3x3", true, 7);
    let z = vec![-0.2f32; 16];
    let (height, width) = (64, 128);
    let mut ids = region_ids(height, width, CLASSES, 22);
    let mut cache = None;
    generator
        .forward_incremental(
            &one_hot(&ids, height, width),
            Some(&z),
            &mut cache,
            Approximation::EXACT,
        )
        .unwrap();
    // An odd pixel is no level's nearest sample but the full-resolution one.
    ids[31 * width + 77] = (ids[31 * width + 77] + 1) % CLASSES;
    let seg = one_hot(&ids, height, width);
    let (image, work) = generator
        .forward_incremental(&seg, Some(&z), &mut cache, Approximation::EXACT)
        .unwrap();
    assert!(!work.full && work.fraction < 0.25, "{work:?}");
    let diff = max_abs_diff(&image, &generator.forward(&seg, Some(&z)).unwrap());
    assert!(diff < 1e-5, "{diff:e}");
    // Nothing changed: nothing recomputed.
    let (_, idle) = generator
        .forward_incremental(&seg, Some(&z), &mut cache, Approximation::EXACT)
        .unwrap();
    assert_eq!((idle.full, idle.fraction), (false, 0.0));
}

#[test]
fn style_size_and_tolerance_reset_the_cache() {
    let generator = spade("spectralspadesyncbatch3x3", true, 8);
    let (height, width) = (64, 128);
    let mut ids = region_ids(height, width, CLASSES, 23);
    let seg = one_hot(&ids, height, width);
    let mut cache = None;
    let z = vec![0.1f32; 16];
    generator
        .forward_incremental(&seg, Some(&z), &mut cache, Approximation::EXACT)
        .unwrap();
    let other_style = vec![0.5f32; 16];
    let (_, work) = generator
        .forward_incremental(&seg, Some(&other_style), &mut cache, Approximation::EXACT)
        .unwrap();
    assert!(work.full, "a new style code must recompute everything");

    // An in-stroke frame with a tolerance, then the stroke's exact end frame.
    let other_class = (ids[40 * width + 90] + 1) % CLASSES;
    dab(&mut ids, width, (40, 90, 4), other_class);
    let stroke = one_hot(&ids, height, width);
    let (_, approximate) = generator
        .forward_incremental(&stroke, Some(&other_style), &mut cache, STROKE)
        .unwrap();
    assert!(!approximate.full);
    let (exact, end) = generator
        .forward_incremental(
            &stroke,
            Some(&other_style),
            &mut cache,
            Approximation::EXACT,
        )
        .unwrap();
    assert!(
        end.full,
        "an exact frame after an approximate one recomputes everything"
    );
    let full = generator.forward(&stroke, Some(&other_style)).unwrap();
    assert!(max_abs_diff(&exact, &full) < 1e-5);

    let options_small = json!({"ngf": 4, "label_nc": CLASSES, "norm_G": "spectralspadesyncbatch3x3",
        "spade_hidden_nc": 8, "no_instance": true, "contain_dontcare_label": false,
        "use_vae": true, "z_dim": 16, "crop_size": 64, "aspect_ratio": 2.0});
    let (small, varmap) = Generator::random(NetKind::Spade, &options_small, &Device::Cpu).unwrap();
    seed_weights(&varmap, 8);
    let FastGenerator::Spade(small) = FastGenerator::from_generator(&small).unwrap() else {
        panic!("SPADE expected")
    };
    let small_seg = one_hot(&region_ids(32, 64, CLASSES, 24), 32, 64);
    let (_, resized) = small
        .forward_incremental(
            &small_seg,
            Some(&other_style),
            &mut cache,
            Approximation::EXACT,
        )
        .unwrap();
    assert!(resized.full, "a cache of another size must not be reused");
}

/// Instance-norm SPADE: exact frames are full frames; in-stroke frames reuse the last full
/// frame's statistics, recompute a part, stay close to the exact image, and the stroke's exact
/// end is a full frame.
#[test]
fn instance_norm_spade_strokes_use_frozen_statistics_and_end_exact() {
    let generator = spade("spectralspadeinstance3x3", true, 9);
    assert!(!generator.supports_incremental());
    let (height, width) = (64, 128);
    let mut ids = region_ids(height, width, CLASSES, 25);
    let z = vec![0.0f32; 16];
    let mut cache = None;
    let first = one_hot(&ids, height, width);
    generator
        .forward_incremental(&first, Some(&z), &mut cache, Approximation::EXACT)
        .unwrap();
    let class = (ids[10 * width + 10] + 1) % CLASSES;
    dab(&mut ids, width, (10, 10, 3), class);
    let seg = one_hot(&ids, height, width);
    let full = generator.forward(&seg, Some(&z)).unwrap();

    let mut exact_cache = cache.clone();
    let (image, work) = generator
        .forward_incremental(&seg, Some(&z), &mut exact_cache, Approximation::EXACT)
        .unwrap();
    assert!(
        work.full,
        "an exact frame of an instance-norm model is a full frame"
    );
    assert!(max_abs_diff(&image, &full) < 1e-6);

    let (approximate, work) = generator
        .forward_incremental(&seg, Some(&z), &mut cache, STROKE)
        .unwrap();
    assert!(!work.full && work.fraction < 1.0, "{work:?}");
    let mean = approximate
        .data
        .iter()
        .zip(&full.data)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / full.data.len() as f32;
    assert!(
        mean > 0.0 && mean < 0.05,
        "frozen statistics move the image by {mean} on average"
    );
    let (end, work) = generator
        .forward_incremental(&seg, Some(&z), &mut cache, Approximation::EXACT)
        .unwrap();
    assert!(work.full);
    assert!(max_abs_diff(&end, &full) < 1e-6);
}

/// The live preview's frames (`LiveFrames`, what the painter's worker runs) of a batch-norm
/// SPADE bundle: exact ones equal `Model::translate` image for image after every stroke event.
#[test]
fn live_frames_of_a_model_equal_translate() {
    use scenepaint::labelmap::LabelMap;
    use scenepaint::nets::bundle::{Model, ModelManifest, TranslateOptions};
    use scenepaint::nets::live_frames::LiveFrames;
    use scenepaint::nets::style_colours::{ColourStats, PhotoColours, StyleColours};
    let options = json!({"ngf": 4, "label_nc": 9, "norm_G": "spectralspadesyncbatch3x3",
        "spade_hidden_nc": 8, "no_instance": true, "contain_dontcare_label": false,
        "use_vae": true, "z_dim": 16, "crop_size": 128, "aspect_ratio": 2.0});
    let (generator, varmap) = Generator::random(NetKind::Spade, &options, &Device::Cpu).unwrap();
    seed_weights(&varmap, 12);
    let manifest = ModelManifest::in_memory(
        NetKind::Spade,
        options,
        "ycor",
        scenepaint::nets::encoding::InputEncoding::one_hot(9, false),
    );
    let mut model = Model::from_generator(
        manifest,
        generator,
        &Device::Cpu,
        scenepaint::nets::fast::InferencePath::Auto,
    )
    .unwrap();
    // Random styles take a photo's colours, after the generator on both paths.
    let photo = |rgb| PhotoColours {
        key: format!("{rgb:?}"),
        stats: ColourStats {
            std: [0.4, 0.1, 0.1],
            ..ColourStats::of_photo(&image::RgbImage::from_pixel(2, 2, image::Rgb(rgb))).unwrap()
        },
    };
    let bank = StyleColours {
        space: "test".into(),
        photos: vec![photo([200, 90, 40]), photo([40, 90, 200])],
    };
    model.set_style_colours(Some(bank));
    let ids: Vec<u16> = region_ids(64, 128, 9, 26)
        .iter()
        .map(|&i| i as u16)
        .collect();
    let mut map = LabelMap::from_ids(128, 64, ids).unwrap();
    let style = TranslateOptions {
        seed: 4,
        ..TranslateOptions::default()
    };
    let mut frames = LiveFrames::default();
    // Small dabs between the sample points of the 1/16 and 1/32 levels (multiples of 16
    // pixels): an update that reached them would plan a full frame's work and run one.
    for (i, at) in [[19.0f32, 20.0], [20.0, 21.0], [21.0, 20.0], [90.0, 10.0]]
        .iter()
        .enumerate()
    {
        scenepaint::paint::raster::brush_segment(&mut map, *at, [at[0] + 3.0, at[1]], 4, 8);
        let (image, work) = frames
            .frame(&model, &map, &style, Approximation::EXACT)
            .unwrap();
        assert_eq!(work.unwrap().full, i == 0, "event {i}");
        let full = model.translate(&map, &style).unwrap();
        let differing = image
            .as_raw()
            .iter()
            .zip(full.as_raw())
            .filter(|(a, b)| a.abs_diff(**b) > 1)
            .count();
        assert_eq!(
            differing, 0,
            "event {i}: an exact live frame is the translated image"
        );
    }
    assert!(frames.cache_bytes() > 0);
    // The colour switch reaches a live frame at once (the cached style is remade).
    let own = TranslateOptions {
        generator_colours: true,
        ..style.clone()
    };
    let (image, _) = frames
        .frame(&model, &map, &own, Approximation::EXACT)
        .unwrap();
    assert_eq!(image, model.translate(&map, &own).unwrap());
    assert_ne!(image, model.translate(&map, &style).unwrap());
}

/// Keeping the coarse levels cuts the work of a change that covers coarse sample points; the
/// approximate image stays close to the exact one and the stroke's exact end equals a full
/// frame. An update planned at a full frame's work (or close) runs as a full frame.
#[test]
fn frozen_coarse_levels_recompute_less_than_an_exact_update() {
    let generator = spade("spectralspadesyncbatch3x3", true, 10);
    let z = vec![0.2f32; 16];
    let (height, width) = (64, 128);
    let start = region_ids(height, width, CLASSES, 27);
    let mut painted = start.clone();
    // Covers (32, 64), a sample point of every level.
    let class = (painted[32 * width + 64] + 1) % CLASSES;
    dab(&mut painted, width, (32, 64, 5), class);
    let (seg_start, seg_painted) = (
        one_hot(&start, height, width),
        one_hot(&painted, height, width),
    );
    let mut works = Vec::new();
    let mut images = Vec::new();
    // Exact, and keeping only the 1/32 level, the change reaches every level that runs: both
    // plan a full frame's work and run one. Keeping the levels from 1/4 leaves two to update.
    for (approximation, runs_full) in [
        (Approximation::EXACT, true),
        (STROKE, true),
        (
            Approximation {
                tolerance: 0.0,
                frozen_from_factor: 4,
            },
            false,
        ),
    ] {
        let mut cache = None;
        generator
            .forward_incremental(&seg_start, Some(&z), &mut cache, Approximation::EXACT)
            .unwrap();
        let (image, work) = generator
            .forward_incremental(&seg_painted, Some(&z), &mut cache, approximation)
            .unwrap();
        assert_eq!(work.full, runs_full, "{approximation:?}: {work:?}");
        works.push(work.fraction);
        images.push(image);
        let (end, end_work) = generator
            .forward_incremental(&seg_painted, Some(&z), &mut cache, Approximation::EXACT)
            .unwrap();
        // Only an approximate incremental frame leaves a cache that needs a full frame.
        assert_eq!(end_work.full, !runs_full, "{approximation:?}");
        assert!(max_abs_diff(&end, &images[0]) < 1e-5);
    }
    assert_eq!(works[0], 1.0);
    assert!(works[2] < 0.8, "{works:?}");
    let mean_diff = |a: &Planes, b: &Planes| {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .sum::<f32>()
            / a.data.len() as f32
    };
    // Outputs are in [-1, 1]: the kept coarse levels move the image by little on average.
    assert!(
        mean_diff(&images[2], &images[0]) < 0.05,
        "{}",
        mean_diff(&images[2], &images[0])
    );
}

/// pix2pix's U-Net and pix2pixHD's generators have no incremental frames: their receptive
/// fields span the whole image at the bottleneck (and pix2pixHD normalises per instance), so
/// an exact update is a full frame. The live preview runs them whole, and after strokes, a
/// fill and an undo every live frame is the translated image.
#[test]
fn live_frames_of_pix2pix_and_pix2pixhd_are_full_frames() {
    use scenepaint::labelmap::LabelMap;
    use scenepaint::nets::bundle::{Model, ModelManifest, TranslateOptions};
    use scenepaint::nets::live_frames::LiveFrames;
    let families = [
        (
            NetKind::Pix2pixUnet,
            json!({"input_nc": 9, "output_nc": 3, "num_downs": 5, "ngf": 4, "norm": "batch"}),
        ),
        (
            NetKind::Pix2pixhdGlobal,
            json!({"input_nc": 9, "ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1}),
        ),
    ];
    for (net, options) in families {
        let (generator, varmap) = Generator::random(net, &options, &Device::Cpu).unwrap();
        seed_weights(&varmap, 14);
        let encoding = scenepaint::nets::encoding::InputEncoding::one_hot(9, false);
        let manifest = ModelManifest::in_memory(net, options, "ycor", encoding);
        let path = scenepaint::nets::fast::InferencePath::Auto;
        let model = Model::from_generator(manifest, generator, &Device::Cpu, path).unwrap();
        let ids: Vec<u16> = region_ids(64, 128, 9, 31)
            .iter()
            .map(|&i| i as u16)
            .collect();
        let mut map = LabelMap::from_ids(128, 64, ids).unwrap();
        let before_fill = map.clone();
        let style = TranslateOptions::default();
        let mut frames = LiveFrames::default();
        for event in 0..5 {
            match event {
                3 => map = LabelMap::from_ids(128, 64, vec![2; 128 * 64]).unwrap(),
                4 => map = before_fill.clone(),
                _ => {
                    let at = [20.0 + 9.0 * event as f32, 30.0];
                    scenepaint::paint::raster::brush_segment(
                        &mut map,
                        at,
                        [at[0] + 5.0, at[1]],
                        6,
                        8,
                    );
                }
            }
            let (image, work) = frames
                .frame(&model, &map, &style, Approximation::EXACT)
                .unwrap();
            assert!(work.is_none(), "{net:?} has no incremental frames");
            let full = model.translate(&map, &style).unwrap();
            assert!(
                image == full,
                "{net:?} event {event}: a live frame is the translated image"
            );
        }
        assert_eq!(frames.cache_bytes(), 0, "{net:?} keeps no activations");
    }
}
