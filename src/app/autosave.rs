//! Autosave to the user's data directory, and recovery after an unclean exit.
//!
//! While the program runs, a `session.lock` marker exists beside `autosave.scenepaint`. A clean
//! exit removes it, so a marker found at start-up means the last session crashed or was killed,
//! and its autosave is offered back.
use crate::paint::project::Project;
use crate::Result;
use std::path::{Path, PathBuf};

pub const AUTOSAVE_FILE: &str = "autosave.scenepaint";
pub const SESSION_MARKER: &str = "session.lock";
/// Seconds after a change before it is written.
pub const AUTOSAVE_DELAY_S: f64 = 3.0;

/// The default directory: `<data dir>/scenepaint` (e.g. ~/.local/share/scenepaint).
pub fn default_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("scenepaint"))
}

#[derive(Debug)]
pub struct Autosave {
    dir: PathBuf,
    /// Document generation last written (or loaded).
    saved_generation: u64,
    /// Time (egui seconds) of the first unsaved change.
    pending_since_s: Option<f64>,
}

impl Autosave {
    /// Starts a session in `dir`. Returns the autosave left by an unclean exit, if any.
    pub fn start(dir: &Path) -> Result<(Self, Option<PathBuf>)> {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
        let marker = dir.join(SESSION_MARKER);
        let file = dir.join(AUTOSAVE_FILE);
        let recoverable = (marker.exists() && file.exists()).then(|| file.clone());
        let pid = std::process::id().to_string();
        std::fs::write(&marker, pid).map_err(|e| crate::Error::io(&marker, e))?;
        let autosave = Autosave {
            dir: dir.to_path_buf(),
            saved_generation: 0,
            pending_since_s: None,
        };
        Ok((autosave, recoverable))
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join(AUTOSAVE_FILE)
    }

    /// Treats `generation` as already saved (after opening or restoring a document).
    pub fn mark_saved(&mut self, generation: u64) {
        self.saved_generation = generation;
        self.pending_since_s = None;
    }

    /// Called every frame. Writes the project once `AUTOSAVE_DELAY_S` passed since the first
    /// unsaved change. Returns seconds until the next write is due (to schedule a repaint).
    pub fn tick(
        &mut self,
        now_s: f64,
        generation: u64,
        project: impl FnOnce() -> Project,
    ) -> Result<Option<f64>> {
        if generation == self.saved_generation {
            self.pending_since_s = None;
            return Ok(None);
        }
        let since = *self.pending_since_s.get_or_insert(now_s);
        let due_in = since + AUTOSAVE_DELAY_S - now_s;
        if due_in > 0.0 {
            return Ok(Some(due_in));
        }
        self.mark_saved(generation);
        project().save(self.file())?;
        Ok(None)
    }

    /// Clean exit: remove the marker so the autosave is not offered as a crash recovery.
    pub fn finish(&self) {
        // Nothing useful can be done if this fails; the next start only offers a restore.
        let _ = std::fs::remove_file(self.dir.join(SESSION_MARKER));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labelmap::LabelMap;
    use crate::labels::Palette;
    use crate::paint::project::ViewSettings;

    fn project(fill: u16) -> Project {
        let palette = Palette::builtin("ycor").unwrap();
        Project::new(
            &LabelMap::new(8, 4, fill),
            &palette,
            ViewSettings::default(),
        )
    }

    #[test]
    fn saves_after_delay_and_recovers_after_unclean_exit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, recover) = Autosave::start(dir.path()).unwrap();
        assert!(recover.is_none());
        assert_eq!(
            a.tick(10.0, 0, || project(1)).unwrap(),
            None,
            "nothing changed"
        );
        assert_eq!(
            a.tick(10.0, 1, || project(1)).unwrap(),
            Some(AUTOSAVE_DELAY_S)
        );
        assert!(!a.file().exists(), "not before the delay");
        a.tick(10.0 + AUTOSAVE_DELAY_S, 2, || project(2)).unwrap();
        let saved = Project::load(a.file()).unwrap();
        assert_eq!(saved.label_map().unwrap().get(0, 0), 2);

        // No finish(): the next start sees an unclean exit.
        let (b, recover) = Autosave::start(dir.path()).unwrap();
        assert_eq!(recover, Some(b.file()));
        b.finish();
        let (_c, recover) = Autosave::start(dir.path()).unwrap();
        assert!(recover.is_none(), "clean exit offers nothing");
    }
}
