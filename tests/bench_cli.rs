//! `scenepaint bench` as a user runs it: one case by name, as JSON and as a table, with the
//! fields the README's performance section quotes (no timing is asserted: speed is measured,
//! not tested).
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::process::Command;

mod train_support;

const CASE: &str = "preview default ngf16 h32 128x64";

/// `scenepaint ARGS`' standard output, after checking it succeeded.
fn scenepaint(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scenepaint"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn bench(extra: &[&str]) -> String {
    let mut args = vec!["bench", "--runs", "2", "--filter", CASE];
    args.extend_from_slice(extra);
    scenepaint(&args)
}

#[test]
fn bench_reports_ms_gflops_and_the_candle_ratio_for_one_case() {
    let json = bench(&["--json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{json}");
    let row = &rows[0];
    assert_eq!(row["name"], CASE);
    assert_eq!(row["runs"], 2);
    for field in [
        "median_ms",
        "conv_gflop",
        "gflop_per_s",
        "candle_median_ms",
        "speedup",
    ] {
        let value = row[field].as_f64();
        assert!(value.is_some_and(|v| v > 0.0), "{field}: {row}");
    }

    let table = bench(&["--no-candle"]);
    let line = table
        .lines()
        .find(|l| l.starts_with(CASE))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains(" ms") && line.contains("GFLOP/s"), "{line}");
    assert!(
        line.trim_end().ends_with("candle        -") && !line.contains(" x "),
        "--no-candle skips the Candle run: {line}"
    );
}

#[test]
fn bench_train_reports_both_paths_images_per_second_and_memory_for_a_case() {
    let text = scenepaint(&[
        "bench",
        "--train-only",
        "--train-steps",
        "1",
        "--filter",
        "pix2pixhd-compact",
        "--train-size",
        "64",
        "--json",
    ]);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let paths: Vec<&str> = rows.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["fast", "candle"], "{text}");
    for row in &rows {
        assert_eq!(row["preset"], "pix2pixhd-compact");
        assert_eq!(
            (row["width"].as_u64(), row["height"].as_u64()),
            (Some(64), Some(64))
        );
        assert_eq!(row["batch_size"], 1);
        for field in ["seconds_per_iter", "images_per_s", "peak_kib_end"] {
            assert!(
                row[field].as_f64().is_some_and(|v| v > 0.0),
                "{field}: {row}"
            );
        }
    }
}

#[test]
fn bench_train_times_real_pairs_and_names_a_missing_folder() {
    // The dataset's root, whose layout names its palette (YCOR's 9 classes, as the cases).
    let ycor = train_support::ycor();
    let dir = ycor.parent().unwrap().to_str().unwrap();
    let text = scenepaint(&[
        "bench",
        "--train-only",
        "--no-candle",
        "--train-steps",
        "1",
        "--filter",
        "spade-compact",
        "--train-size",
        "64",
        "--train-data",
        dir,
        "--json",
    ]);
    let row: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(row["preset"], "spade-compact", "{text}");
    assert!(
        row["seconds_per_iter"].as_f64().is_some_and(|v| v > 0.0),
        "{row}"
    );

    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("no-such-dataset");
    let out = Command::new(env!("CARGO_BIN_EXE_scenepaint"))
        .args([
            "bench",
            "--train-only",
            "--no-candle",
            "--filter",
            "spade-compact",
        ])
        .arg("--train-data")
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no-such-dataset"), "{stderr}");
}

#[test]
fn the_stroke_bench_reports_full_exact_and_in_stroke_frames() {
    let json = scenepaint(&[
        "bench",
        "--stroke-only",
        "--strokes",
        "1",
        "--filter",
        "random batch-norm 256",
        "--json",
    ]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "only the filtered stroke case: {json}");
    let row = &rows[0];
    assert_eq!(row["events"], 8, "{row}");
    for field in [
        "full_median_ms",
        "exact_median_ms",
        "stroke_median_ms",
        "stroke_percent",
        "cache_mib",
    ] {
        assert!(
            row[field].as_f64().is_some_and(|v| v > 0.0),
            "{field}: {row}"
        );
    }
    // Exact incremental frames are checked equal to full ones in tests/fast_incremental.rs;
    // here the in-stroke frames' measured difference is small and the work partial.
    assert!(row["stroke_error_mean"].as_f64().unwrap() < 2.0, "{row}");
    assert!(row["exact_work"].as_f64().unwrap() < 1.0, "{row}");
}
