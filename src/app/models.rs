//! Model picker state: the bundle folders searched (`weights/` plus folders the user adds), the
//! compute device, and loading a bundle on a background thread so the UI never waits on disk
//! or on building the network.
use super::job::Job;
use crate::device::DeviceChoice;
use crate::live::{ModelInfo, Translator};
use crate::nets::bundle::MANIFEST_FILE;
use crate::Result;
use candle_core::Device;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads a model bundle for the live preview (the nets module implements it for its bundles;
/// tests pass a tiny network).
pub trait ModelLoader: Send + Sync {
    fn load(&self, dir: &Path, device: &Device) -> Result<(ModelInfo, Box<dyn Translator>)>;
}

/// A finished background load.
pub struct Loaded {
    pub dir: PathBuf,
    pub info: ModelInfo,
    pub translator: Box<dyn Translator>,
    /// The device that failed before falling back to the CPU, with its error.
    pub fallback: Option<String>,
    /// The device the model runs on (the CPU after a fallback).
    pub device: DeviceChoice,
}

/// The model picker's state.
pub struct ModelPicker {
    pub folders: Vec<PathBuf>,
    pub bundles: Vec<PathBuf>,
    pub selected: Option<PathBuf>,
    /// The bundle being loaded now (the picker shows it, not the first one listed).
    pub loading: Option<PathBuf>,
    pub device: DeviceChoice,
    pub devices: Vec<DeviceChoice>,
    loader: Option<Arc<dyn ModelLoader>>,
    pending: Option<Job<Loaded>>,
}

impl ModelPicker {
    pub fn new(loader: Option<Arc<dyn ModelLoader>>, folders: Vec<PathBuf>) -> Self {
        let mut picker = Self {
            folders,
            bundles: Vec::new(),
            selected: None,
            loading: None,
            device: DeviceChoice::Cpu,
            devices: DeviceChoice::available(),
            loader,
            pending: None,
        };
        picker.rescan();
        picker
    }

    pub fn can_load(&self) -> bool {
        self.loader.is_some()
    }

    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    pub fn add_folder(&mut self, folder: PathBuf) {
        if !self.folders.contains(&folder) {
            self.folders.push(folder);
        }
        self.rescan();
    }

    pub fn rescan(&mut self) {
        self.bundles = find_bundles(&self.folders);
        if self.selected.is_none() {
            self.selected = self.bundles.first().cloned();
        }
    }

    /// Starts loading `dir` on a background thread; `notify` repaints when done.
    pub fn start_load(&mut self, dir: PathBuf, notify: impl Fn() + Send + 'static) -> Result<()> {
        self.start_load_after(dir, || Ok(()), notify)
    }

    /// [`Self::start_load`] after `prepare` ran on the same thread (e.g. copying a bundle, so
    /// the UI thread never waits on the disk).
    pub fn start_load_after(
        &mut self,
        dir: PathBuf,
        prepare: impl FnOnce() -> Result<()> + Send + 'static,
        notify: impl Fn() + Send + 'static,
    ) -> Result<()> {
        let Some(loader) = self.loader.clone() else {
            return Err(crate::Error::msg(
                "this build has no model loader (the network module is missing)",
            ));
        };
        let device = self.device;
        let target = dir.clone();
        let load =
            move || prepare().and_then(|()| load_with_fallback(loader.as_ref(), dir, device));
        self.pending = Some(Job::spawn("load-model", load, notify)?);
        self.selected = Some(target.clone());
        self.loading = Some(target);
        Ok(())
    }

    /// A finished load, if one arrived.
    pub fn poll(&mut self) -> Option<Result<Loaded>> {
        let result = self.pending.as_mut()?.poll()?;
        self.pending = None;
        self.loading = None;
        Some(result)
    }
}

/// Tries `device`; when it fails, the CPU, reporting why.
fn load_with_fallback(
    loader: &dyn ModelLoader,
    dir: PathBuf,
    device: DeviceChoice,
) -> Result<Loaded> {
    let first = device.device().and_then(|d| loader.load(&dir, &d));
    let (result, fallback, used) = match first {
        Err(e) if device != DeviceChoice::Cpu => (
            loader.load(&dir, &Device::Cpu),
            Some(format!("{} failed ({e}); using the CPU", device.label())),
            DeviceChoice::Cpu,
        ),
        other => (other, None, device),
    };
    let (info, translator) = result?;
    Ok(Loaded {
        dir,
        info,
        translator,
        fallback,
        device: used,
    })
}

/// Bundles among `folders`: each folder that holds a manifest and each such direct subfolder.
pub fn find_bundles(folders: &[PathBuf]) -> Vec<PathBuf> {
    let mut bundles = Vec::new();
    for folder in folders {
        if folder.join(MANIFEST_FILE).is_file() {
            bundles.push(folder.clone());
        }
        let Ok(entries) = std::fs::read_dir(folder) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        found.sort();
        bundles.extend(found);
    }
    bundles
}

/// The folder name of a bundle, for lists; a training run's bundles (`RUN/model`,
/// `RUN/best`) are named with their run, since every run's would otherwise read "model".
pub fn bundle_name(dir: &Path) -> String {
    let Some(name) = dir.file_name() else {
        return dir.display().to_string();
    };
    let name = name.to_string_lossy().into_owned();
    let run = dir
        .parent()
        .filter(|parent| parent.join(crate::train::run_files::CONFIG_FILE).is_file())
        .and_then(|parent| parent.file_name());
    match run {
        Some(run) => format!("{}/{name}", run.to_string_lossy()),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_found_in_folders_and_direct_subfolders() {
        let root = tempfile::tempdir().unwrap();
        for name in ["b", "a", "not_a_bundle"] {
            std::fs::create_dir_all(root.path().join(name)).unwrap();
        }
        std::fs::write(root.path().join("a").join(MANIFEST_FILE), "{}").unwrap();
        std::fs::write(root.path().join("b").join(MANIFEST_FILE), "{}").unwrap();
        let found = find_bundles(&[root.path().to_path_buf(), root.path().join("a")]);
        let names: Vec<String> = found.iter().map(|p| bundle_name(p)).collect();
        assert_eq!(names, vec!["a", "b", "a"]);
        // A training run's bundle is named with its run folder.
        let run = root.path().join("ycor-run");
        std::fs::create_dir_all(run.join("model")).unwrap();
        std::fs::write(run.join(crate::train::run_files::CONFIG_FILE), "{}").unwrap();
        assert_eq!(bundle_name(&run.join("model")), "ycor-run/model");
        assert!(DeviceChoice::available().contains(&DeviceChoice::Cpu));
    }

    /// Loads on the CPU only, recording the devices it was asked for.
    struct CpuOnlyLoader(std::sync::Mutex<Vec<bool>>);

    struct Blank;

    impl Translator for Blank {
        fn translate(
            &mut self,
            labels: &crate::labelmap::LabelMap,
            _: &crate::live::Style,
            _: bool,
        ) -> Result<image::RgbImage> {
            Ok(image::RgbImage::new(labels.width, labels.height))
        }
    }

    impl ModelLoader for CpuOnlyLoader {
        fn load(&self, dir: &Path, device: &Device) -> Result<(ModelInfo, Box<dyn Translator>)> {
            self.0.lock().unwrap().push(device.is_cpu());
            if !device.is_cpu() {
                return Err(crate::Error::msg("no kernels for this device"));
            }
            let info = ModelInfo {
                name: bundle_name(dir),
                palette: crate::labels::Palette::builtin("ycor")?,
                input_size: None,
                uses_style: false,
                has_encoder: false,
                style_photo_unavailable: None,
                has_style_colours: false,
            };
            Ok((info, Box::new(Blank)))
        }
    }

    #[test]
    fn a_gpu_that_fails_falls_back_to_the_cpu_with_the_reason() {
        let loader = CpuOnlyLoader(std::sync::Mutex::new(Vec::new()));
        for gpu in [DeviceChoice::Cuda, DeviceChoice::Metal] {
            let loaded = load_with_fallback(&loader, PathBuf::from("m"), gpu).unwrap();
            assert_eq!(loaded.device, DeviceChoice::Cpu);
            let why = loaded.fallback.expect("the fallback is reported");
            assert!(
                why.starts_with(gpu.label()) && why.contains("using the CPU"),
                "{why}"
            );
        }
        let loaded = load_with_fallback(&loader, PathBuf::from("m"), DeviceChoice::Cpu).unwrap();
        assert!(loaded.fallback.is_none());
        assert_eq!(loader.0.lock().unwrap().last(), Some(&true));
    }
}
