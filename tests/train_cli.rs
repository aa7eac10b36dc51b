//! `scenepaint train` as a process: Ctrl+C (SIGINT) or SIGTERM saves a checkpoint and the bundle and
//! exits cleanly, `--resume` continues from it, and a `kill -9` in the middle of a run leaves
//! a checkpoint that loads (checkpoints are written to a temporary file and renamed).
#![cfg(unix)]
mod train_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
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

fn stderr_of(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigterm_saves_and_exits_like_ctrl_c() {
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 2);
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), 1000);
    let run = work.path().join("run");
    let mut child = train(data.path(), &run, &config, 1000, false)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_steps(&mut child, &run, 2);
    signal(&child, "-TERM");
    let (status, stderr) = stderr_of(child);
    assert!(
        status.success() && stderr.contains("stopped at iteration"),
        "{stderr}"
    );
    assert!(run.join("checkpoint.safetensors").is_file());
}

#[test]
fn ctrl_c_saves_and_exits_and_resume_continues() {
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 3);
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), 1000);
    let run = work.path().join("run");
    let mut child = train(data.path(), &run, &config, 1000, false)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_steps(&mut child, &run, 3);
    signal(&child, "-INT");
    let (status, stderr) = stderr_of(child);
    assert!(status.success(), "{stderr}");
    let stopped: u64 = stderr
        .split("stopped at iteration ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(stopped >= 3, "{stderr}");
    assert!(run.join("checkpoint.safetensors").is_file());
    assert!(
        run.join("model/model.json").is_file(),
        "the bundle is written too"
    );

    let out = train(data.path(), &run, &config, stopped + 2, true)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("from iteration {stopped}"))
            && stderr.contains(&format!("finished at iteration {}", stopped + 2)),
        "{stderr}"
    );
    assert_eq!(logged_steps(&run), stopped as usize + 2);
}

#[test]
fn kill_9_mid_run_leaves_a_checkpoint_that_resumes() {
    let data = tempfile::tempdir().unwrap();
    train_support::small_ycor(data.path(), 3);
    let work = tempfile::tempdir().unwrap();
    // A checkpoint after every step: the kill most likely lands while one is being written.
    let config = write_config(work.path(), 1);
    let run = work.path().join("run");
    let mut child = train(data.path(), &run, &config, 1000, false)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_steps(&mut child, &run, 3);
    signal(&child, "-KILL");
    let (status, _) = stderr_of(child);
    assert!(!status.success());
    let out = train(data.path(), &run, &config, 1, true).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let resumed: u64 = stderr
        .split("from iteration ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(resumed >= 2, "lost more than the last step: {stderr}");
}
