//! Devices on the command line: a GPU this binary cannot use is a clear error (exit 1, naming
//! the device, why, and `--device cpu`), never a crash; `reference` runs the published
//! networks' cases on the chosen device.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
use std::path::Path;
use std::process::Command;

fn scenepaint() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scenepaint"));
    command.env_remove("RUST_BACKTRACE");
    command
}

#[cfg(not(feature = "cuda"))]
#[test]
fn an_unavailable_gpu_is_a_clear_error_in_train_and_bench() {
    for args in [
        vec![
            "train", "--net", "spade", "--data", "nowhere", "--out", "nowhere", "--device",
            "cuda:0",
        ],
        vec!["bench", "--device", "cuda:0"],
        vec!["reference", "--device", "cuda:0"],
    ] {
        let out = scenepaint().args(&args).output().expect("run scenepaint");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot use device cuda:0") && stderr.contains("--device cpu"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = scenepaint()
        .args(["bench", "--device", "gpu"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected cpu, cuda:N or metal:N"));
}

#[test]
fn reference_cases_run_from_the_command_line() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference"));
    assert!(
        dir.is_dir(),
        "{} is missing (../shared beside the repository)",
        dir.display()
    );
    let out = scenepaint()
        .arg("reference")
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("match on cpu"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}
