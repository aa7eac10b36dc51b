//! Importing published .pth checkpoints from the model picker, with and without their opt.txt.
use super::*;

/// A copy of the pix2pixHD reference checkpoint as a published repo leaves it: a checkpoints
/// folder with `latest_net_G.pth` and, with `opt_txt`, its `opt.txt`.
fn published_checkpoint(root: &std::path::Path, opt_txt: bool) -> std::path::PathBuf {
    let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/pix2pixhd_global.weights.pth");
    assert!(reference.exists(), "{} is missing", reference.display());
    let folder = root.join("checkpoints/label2city");
    std::fs::create_dir_all(&folder).unwrap();
    let pth = folder.join("latest_net_G.pth");
    std::fs::copy(&reference, &pth).unwrap();
    if opt_txt {
        write_published_options(&folder.join("opt.txt"));
    }
    pth
}

/// The `opt.txt` pix2pixHD writes for the reference checkpoint's options.
fn write_published_options(path: &std::path::Path) {
    std::fs::write(
        path,
        "------------ Options -------------\ndataroot: ./datasets/cityscapes/\nlabel_nc: 6\n\
         n_blocks_global: 3\nn_downsample_global: 3\nnetG: global\nngf: 8\n\
         no_instance: False\nnorm: instance\n-------------- End ----------------\n",
    )
    .unwrap();
}

#[test]
fn a_published_checkpoint_imports_from_the_picker_and_becomes_the_live_model() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = published_checkpoint(tmp.path(), true);
    let mut opts = options(64, 48, ScriptedDialogs::new([pth.clone()]));
    opts.model_loader = Some(scenepaint::app::bundle_loader::BundleLoader::shared());
    let mut h = harness_with(opts);
    h.get_by_label("Import .pth…").click();
    h.run_steps(2);
    h.get_by_label("Import published checkpoint");
    match &h.state().modal {
        Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) => {
            assert_eq!(
                form.net,
                Some(scenepaint::nets::bundle::NetKind::Pix2pixhdGlobal)
            );
            assert_eq!(form.palette, "cityscapes", "from the opt.txt's dataroot");
            assert!(form.options.as_ref().unwrap().ends_with("opt.txt"));
        }
        other => panic!("no import dialog: {other:?}"),
    }
    h.get_by_label("Import").click();
    run_until(&mut h, "the imported model", |app| app.live.is_some());
    let bundle = tmp.path().join("checkpoints/label2city-bundle");
    assert!(bundle.join("model.json").is_file());
    let app = h.state();
    assert_eq!(app.live.as_ref().unwrap().info.name, "label2city-bundle");
    assert_eq!(app.palette.name, "cityscapes", "{:?}", app.message);
    assert!(app.models.bundles.contains(&bundle), "listed in the picker");
    assert!(app.modal.is_none());
}

#[test]
fn a_checkpoint_without_options_keeps_the_dialog_open_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = published_checkpoint(tmp.path(), false);
    let chosen_options = tmp.path().join("elsewhere-opt.txt");
    write_published_options(&chosen_options);
    let mut opts = options(64, 48, ScriptedDialogs::new([pth, chosen_options.clone()]));
    opts.model_loader = Some(scenepaint::app::bundle_loader::BundleLoader::shared());
    let mut h = harness_with(opts);
    h.get_by_label("Import .pth…").click();
    h.run_steps(2);
    h.get_by_label("Options: (none found)");
    h.get_by_label("Import").click();
    // The import runs on a thread of its own; the dialog shows its error when it ends.
    run_until(&mut h, "the import's answer", |app| {
        matches!(&app.modal, Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) if form.error.is_some())
            || !matches!(
                &app.modal,
                Some(scenepaint::app::modal::Modal::ImportCheckpoint(_))
            )
    });
    let app = h.state();
    assert!(app.live.is_none());
    match &app.modal {
        Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) => {
            let error = form.error.as_deref().unwrap_or_default();
            assert!(
                error.contains("opt.txt") && error.contains("latest_net_G.pth"),
                "{error}"
            );
        }
        other => panic!("the dialog closed: {other:?}"),
    }
    // "Choose…" takes an option file from elsewhere into the open form; the import then works.
    // The modal grew by the error line; egui centres it anew on the next frames.
    h.run_steps(2);
    h.get_by_label("Choose…").click();
    run_until(&mut h, "the chosen options", |app| {
        matches!(&app.modal, Some(scenepaint::app::modal::Modal::ImportCheckpoint(form))
            if form.options.as_ref() == Some(&chosen_options))
    });
    match &h.state().modal {
        Some(scenepaint::app::modal::Modal::ImportCheckpoint(form)) => {
            assert_eq!(form.error, None, "the options clear the old error");
            assert_eq!(
                form.net,
                Some(scenepaint::nets::bundle::NetKind::Pix2pixhdGlobal)
            );
        }
        other => panic!("the dialog closed: {other:?}"),
    }
    h.run_steps(2);
    h.get_by_label("Import").click();
    run_until(&mut h, "the imported model", |app| app.live.is_some());
    assert!(h.state().modal.is_none());
}
