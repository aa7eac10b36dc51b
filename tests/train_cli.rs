//! `scenepaint train` as a process: Ctrl+C (SIGINT) or SIGTERM saves a checkpoint and the bundle and
//! exits cleanly, `--resume` continues from it, and a `kill -9` in the middle of a run leaves
//! a checkpoint that loads (checkpoints are written to a temporary file and renamed).
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
#![cfg(unix)]
mod train_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn train(data: &Path, run: &Path, config: &Path, iters: u64, resume: bool) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scenepaint"));
    command.args([
        "train",
        "--net",
        "spade",
        "--preset",
        "spade-tiny",
        "--palette",
        "ycor",
    ]);
    command.arg("--data").arg(data).arg("--out").arg(run);
    command.arg("--config").arg(config);
    command.args(["--iters", &iters.to_string()]);
    if resume {
        command.arg("--resume");
    }
    command
}

/// A config for a few quick steps at 64x64 with a checkpoint every `checkpoint_every` steps.
fn write_config(dir: &Path, checkpoint_every: u64) -> std::path::PathBuf {
    let path = dir.join("config.json");
    let config = serde_json::json!({
        "load_width": 64, "load_height": 64, "crop_width": 64, "crop_height": 64,
        "lambda_vgg": 0.0, "log_every": 1, "sample_every": 1000,
        "checkpoint_every": checkpoint_every, "seed": 3
    });
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn logged_steps(run: &Path) -> usize {
    std::fs::read_to_string(run.join("losses.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// Waits until the run has logged `steps` iterations.
fn wait_for_steps(child: &mut Child, run: &Path, steps: usize) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while logged_steps(run) < steps {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {steps} steps"
        );
        assert!(Instant::now() < deadline, "no {steps} steps in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A run on `pairs` small ycor pairs, sent `signal_name` once it logged `steps` steps.
struct Interrupted {
    data: tempfile::TempDir,
    work: tempfile::TempDir,
    status: ExitStatus,
    stderr: String,
}

impl Interrupted {
    fn start(pairs: usize, checkpoint_every: u64, steps: usize, signal_name: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        train_support::small_ycor(data.path(), pairs);
        let work = tempfile::tempdir().unwrap();
        let config = write_config(work.path(), checkpoint_every);
        let run = work.path().join("run");
        let mut child = train(data.path(), &run, &config, 1000, false)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_steps(&mut child, &run, steps);
        signal(&child, signal_name);
        let out = child.wait_with_output().unwrap();
        Self {
            data,
            work,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self) -> PathBuf {
        self.work.path().join("run")
    }

    /// `scenepaint train --resume` on the same run up to `iters` in total.
    fn resume(&self, iters: u64) -> (ExitStatus, String) {
        let config = self.work.path().join("config.json");
        let out = train(self.data.path(), &self.run(), &config, iters, true)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The number printed right after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> u64 {
    text.split(marker)
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no number after {marker:?} in {text}"))
}

#[test]
fn sigterm_saves_and_exits_like_ctrl_c() {
    let run = Interrupted::start(2, 1000, 2, "-TERM");
    assert!(
        run.status.success() && run.stderr.contains("stopped at iteration"),
        "{}",
        run.stderr
    );
    assert!(run.run().join("checkpoint.safetensors").is_file());
}

#[test]
fn ctrl_c_saves_and_exits_and_resume_continues() {
    let run = Interrupted::start(3, 1000, 3, "-INT");
    assert!(run.status.success(), "{}", run.stderr);
    let stopped = number_after(&run.stderr, "stopped at iteration ");
    assert!(stopped >= 3, "{}", run.stderr);
    assert!(run.run().join("checkpoint.safetensors").is_file());
    assert!(
        run.run().join("model/model.json").is_file(),
        "the bundle is written too"
    );

    let (status, stderr) = run.resume(stopped + 2);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("from iteration {stopped}"))
            && stderr.contains(&format!("finished at iteration {}", stopped + 2)),
        "{stderr}"
    );
    assert_eq!(logged_steps(&run.run()), stopped as usize + 2);
}

#[test]
fn kill_9_mid_run_leaves_a_checkpoint_that_resumes() {
    // A checkpoint after every step: the kill most likely lands while one is being written.
    let run = Interrupted::start(3, 1, 3, "-KILL");
    assert!(!run.status.success());
    let (status, stderr) = run.resume(1);
    assert!(status.success(), "{stderr}");
    let resumed = number_after(&stderr, "from iteration ");
    assert!(resumed >= 2, "lost more than the last step: {stderr}");
}

/// A finished run's stderr when it fails.
fn failure(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded: {err}");
    err
}

#[test]
fn bad_settings_are_refused_by_name_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::small_ycor(&data, 3);
    let run = tmp.path().join("run");
    let bad = tmp.path().join("bad.json");
    for (config, expected) in [
        (r#"[{"iters": 5}]"#, "not an array"),
        (r#"{"lerning_rate": 0.1}"#, "lerning_rate"),
        (r#"{"lr": -0.1}"#, "lr is -0.1"),
        (r#"{"crop_width": 0, "load_width": 0}"#, "crop_width is 0"),
        (r#"{"batch_size": 0}"#, "batch_size"),
        (
            r#"{"batch_size": 100000, "crop_width": 64, "crop_height": 64, "load_width": 64, "load_height": 64}"#,
            "3 pair(s)",
        ),
    ] {
        std::fs::write(&bad, config).unwrap();
        let err = failure(&mut train(&data, &run, &bad, 2, false));
        assert!(err.contains(expected), "{config}: {err}");
        assert!(!run.join("checkpoint.safetensors").exists());
    }
    // A run, then `--resume --iters 0`: refused, and the run's own settings stay as they were.
    let _ = std::fs::remove_dir_all(&run);
    let config = write_config(tmp.path(), 1);
    assert!(train(&data, &run, &config, 2, false)
        .status()
        .unwrap()
        .success());
    let saved = std::fs::read_to_string(run.join("config.json")).unwrap();
    let mut resume = Command::new(env!("CARGO_BIN_EXE_scenepaint"));
    resume.args(["train", "--palette", "ycor", "--resume", "--iters", "0"]);
    resume.arg("--data").arg(&data).arg("--out").arg(&run);
    let err = failure(&mut resume);
    assert!(err.contains("iters"), "{err}");
    assert_eq!(
        std::fs::read_to_string(run.join("config.json")).unwrap(),
        saved
    );
}

#[test]
fn temporary_files_of_a_killed_run_are_removed_when_it_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    train_support::small_ycor(&data, 2);
    let run = tmp.path().join("run");
    let config = write_config(tmp.path(), 1);
    assert!(train(&data, &run, &config, 1, false)
        .status()
        .unwrap()
        .success());
    // What a kill -9 during a checkpoint and a bundle write leaves (PID 0 is never a run).
    let stale = [
        run.join("checkpoint.safetensors.tmp-0"),
        run.join("model").join("generator.safetensors.tmp-0"),
    ];
    for path in &stale {
        std::fs::write(path, vec![0u8; 1024]).unwrap();
    }
    let out = train(&data, &run, &config, 2, true).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for path in &stale {
        assert!(!path.exists(), "{} is still there", path.display());
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
