//! The program copied away from its source tree (issue 17): the release binary in a folder of
//! its own with the shipped `weights/` beside it, started from an empty working directory with
//! no repository around it and a home without scenepaint data. It translates with the shipped
//! default model (no --model) and trains two iterations with the perceptual loss on, finding
//! the shipped VGG16 weights. Started with the same layout but no `weights/`, it says where it
//! looked.
#![allow(clippy::unwrap_used)] // a test that cannot go on fails; the panic is the report
mod train_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Copies `from` (a file or folder) to `to`.
fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

struct Installed {
    root: tempfile::TempDir,
    binary: PathBuf,
}

impl Installed {
    /// `app/scenepaint` with `app/weights/<each of shipped>`, an empty `work/` and `home/`.
    fn new(shipped: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("app");
        std::fs::create_dir_all(app.join("weights")).unwrap();
        let binary = app.join("scenepaint");
        std::fs::copy(env!("CARGO_BIN_EXE_scenepaint"), &binary).unwrap();
        let sources = Path::new(env!("CARGO_MANIFEST_DIR"));
        for part in shipped {
            copy(
                &sources.join("weights").join(part),
                &app.join("weights").join(part),
            );
        }
        for dir in ["work", "home"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        Installed { root, binary }
    }

    fn path(&self, part: &str) -> PathBuf {
        self.root.path().join(part)
    }

    /// Runs the copied binary from `work/`, with nothing pointing back at the source tree.
    fn run(&self, args: &[&std::ffi::OsStr]) -> Output {
        let home = self.path("home");
        Command::new(&self.binary)
            .args(args)
            .current_dir(self.path("work"))
            .env_remove("SCENEPAINT_HOME")
            .env_remove("SCENEPAINT_FID_NETWORK")
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .output()
            .unwrap()
    }

    /// `translate` of one label map with the default model (no --model).
    fn translate(&self, map: &Path, photo: &Path) -> Output {
        self.run(&[
            os("translate"),
            os("--input"),
            map.as_os_str(),
            os("--output"),
            photo.as_os_str(),
        ])
    }
}

fn os(text: &str) -> &std::ffi::OsStr {
    text.as_ref()
}

#[test]
fn the_copied_binary_translates_with_the_default_model_and_trains_with_vgg() {
    let installed = Installed::new(&["ycor-spade-256", "vgg16"]);
    let palette = scenepaint::labels::Palette::builtin("ycor").unwrap();
    let map = installed.path("work/scene.png");
    let grass = palette.id_for_name("traversable grass").unwrap();
    scenepaint::labelmap::write_index_png(
        &map,
        &scenepaint::labelmap::LabelMap::new(64, 32, grass),
    )
    .unwrap();
    let photo = installed.path("work/photo.png");
    let run = installed.translate(&map, &photo);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(
        image::open(&photo).unwrap().to_rgb8().dimensions(),
        (64, 32)
    );

    let data = installed.path("work/pairs");
    train_support::small_ycor(&data, 2);
    let out = installed.path("work/run");
    let run = installed.run(&[
        os("train"),
        os("--net"),
        os("spade"),
        os("--preset"),
        os("spade-tiny"),
        os("--palette"),
        os("ycor"),
        os("--iters"),
        os("2"),
        os("--data"),
        data.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stderr}\n{stdout}");
    assert!(
        format!("{stdout}{stderr}").contains("g_vgg"),
        "the perceptual loss trained: {stdout}{stderr}"
    );
    assert!(out.join("model/model.json").is_file());
}

#[test]
fn without_shipped_files_the_binary_says_where_it_looked() {
    let installed = Installed::new(&[]);
    let map = installed.path("work/scene.png");
    scenepaint::labelmap::write_index_png(&map, &scenepaint::labelmap::LabelMap::new(8, 8, 1))
        .unwrap();
    let photo = installed.path("work/photo.png");
    let run = installed.translate(&map, &photo);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    let app = installed.path("app");
    assert!(
        stderr.contains("the default model not found")
            && stderr.contains(&app.display().to_string())
            && stderr.contains("SCENEPAINT_HOME"),
        "{stderr}"
    );
    let help = installed.run(&[os("--help")]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("data folders") && help.contains(&app.display().to_string()),
        "{help}"
    );
}
