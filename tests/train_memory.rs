//! Training memory stays flat across steps. Candle leaves a variable's gradient attached to
//! the forward graph; an optimizer that kept it in its moments chained every step's graph to
//! the next and grew by about 1.2 GB per spade-compact step. This runs a tiny SPADE model
//! (no VGG, 32x32, synthetic data) and compares the resident memory late in the run with the
//! memory after a few steps. Alone in its own test binary so no other test's allocations count.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use candle_core::Device;
use scenepaint::train::bench::{train_step, TrainCase};

#[test]
fn resident_memory_is_flat_across_training_steps() {
    let case = TrainCase {
        name: "spade-tiny".into(),
        preset: "spade-tiny".into(),
        overrides: Some(r#"{"lambda_vgg": 0.0}"#.into()),
    };
    let steps = 14;
    let result = train_step(&case, Some(32), steps, &Device::Cpu, None).unwrap();
    let rss = &result.rss_kib_per_step;
    assert_eq!(rss.len(), steps as usize);
    assert!(rss[0] > 0, "no /proc/self/status VmRSS: {rss:?}");
    let early = rss[3];
    let late = rss[rss.len() - 1];
    // Allocator noise is a few MiB; the leak was the whole step graph every step.
    let margin_kib = 8 * 1024;
    assert!(
        late <= early + margin_kib,
        "RSS grew from {early} KiB after step 4 to {late} KiB after step {steps}: {rss:?}"
    );
}
