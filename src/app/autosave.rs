//! Autosave to the user's data directory, and recovery of paintings a session left unsaved.
//!
//! Every running painter owns one slot, `sessions/<pid>-<ms>/`, with its `autosave.scenepaint`
//! and a `session.lock` it holds an exclusive OS lock on while it runs (the OS drops the lock
//! when the process ends, however it ends). So two painters never share a file, and at start-up
//! a slot whose lock can be taken belongs to no running painter: if it holds an autosave, that
//! painting is offered back. A clean exit removes the slot unless the painting has work not
//! saved to a project file; then the slot stays and is offered at the next start.
use crate::paint::project::Project;
use crate::Result;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

pub const AUTOSAVE_FILE: &str = "autosave.scenepaint";
pub const SESSION_MARKER: &str = "session.lock";
/// The folder of per-session slots inside the autosave directory.
pub const SESSIONS_DIR: &str = "sessions";
/// Seconds after a change before it is written.
pub const AUTOSAVE_DELAY_S: f64 = 3.0;

/// The default directory: `<data dir>/scenepaint` (e.g. ~/.local/share/scenepaint).
pub fn default_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("scenepaint"))
}

#[derive(Debug)]
pub struct Autosave {
    slot: PathBuf,
    /// Held (exclusively locked) for the session's lifetime.
    lock: Option<File>,
    /// Document generation last written (or loaded).
    saved_generation: u64,
    /// Time (egui seconds) of the first unsaved change.
    pending_since_s: Option<f64>,
}

impl Autosave {
    /// Starts a session in `dir`. Returns the autosaves no running painter owns, newest first.
    pub fn start(dir: &Path) -> Result<(Self, Vec<PathBuf>)> {
        let sessions = dir.join(SESSIONS_DIR);
        std::fs::create_dir_all(&sessions).map_err(|e| crate::Error::io(&sessions, e))?;
        let orphans = orphaned_autosaves(dir);
        let (slot, lock) = claim_slot(&sessions)?;
        let autosave = Autosave {
            slot,
            lock: Some(lock),
            saved_generation: 0,
            pending_since_s: None,
        };
        Ok((autosave, orphans))
    }

    pub fn file(&self) -> PathBuf {
        self.slot.join(AUTOSAVE_FILE)
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

    /// Takes over an orphaned autosave the user restored: it moves into this session's slot,
    /// so it stays protected until this session saves over it, and its old slot goes.
    pub fn adopt(&mut self, orphan: &Path) -> Result<()> {
        let file = self.file();
        std::fs::rename(orphan, &file).map_err(|e| crate::Error::io(orphan, e))?;
        remove_slot_of(orphan);
        Ok(())
    }

    /// The user chose to discard an orphaned autosave.
    pub fn discard(orphan: &Path) -> Result<()> {
        std::fs::remove_file(orphan).map_err(|e| crate::Error::io(orphan, e))?;
        remove_slot_of(orphan);
        Ok(())
    }

    /// Clean exit. With `unsaved_work` the slot (and its autosave) stays, to be offered at the
    /// next start; without, it is removed.
    pub fn finish(mut self, unsaved_work: bool) {
        self.lock = None;
        if !unsaved_work {
            // Nothing useful can be done if this fails: an empty slot is removed at a later start.
            let _ = std::fs::remove_dir_all(&self.slot);
        }
    }

    /// What a crash leaves: the lock released, every file kept.
    pub fn abandon(mut self) {
        self.lock = None;
    }
}

/// A fresh slot under `sessions`, locked.
fn claim_slot(sessions: &Path) -> Result<(PathBuf, File)> {
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    for attempt in 0..100u32 {
        let slot = sessions.join(format!("{}-{started_ms}-{attempt}", std::process::id()));
        match std::fs::create_dir(&slot) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(crate::Error::io(&slot, e)),
        }
        let marker = slot.join(SESSION_MARKER);
        let lock = File::create(&marker).map_err(|e| crate::Error::io(&marker, e))?;
        lock.try_lock()
            .map_err(|e| crate::Error::msg(format!("{}: cannot lock: {e}", marker.display())))?;
        return Ok((slot, lock));
    }
    Err(crate::Error::msg(format!(
        "{}: no free session folder after 100 attempts",
        sessions.display()
    )))
}

/// True when no running painter holds the slot's lock.
fn slot_is_free(slot: &Path) -> bool {
    let Ok(marker) = File::options().write(true).open(slot.join(SESSION_MARKER)) else {
        return true;
    };
    match marker.try_lock() {
        Ok(()) => true,
        Err(TryLockError::WouldBlock) => false,
        // A filesystem without locks: offering a live session's copy is better than losing one.
        Err(TryLockError::Error(_)) => true,
    }
}

/// Autosaves in slots no running painter holds, newest first; free slots without one are
/// removed. The single `autosave.scenepaint` of versions before slots is included when its
/// session marker says that session did not exit cleanly.
fn orphaned_autosaves(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    let entries = std::fs::read_dir(dir.join(SESSIONS_DIR))
        .into_iter()
        .flatten();
    for slot in entries.flatten().map(|e| e.path()) {
        if !slot.is_dir() || !slot_is_free(&slot) {
            continue;
        }
        let file = slot.join(AUTOSAVE_FILE);
        match std::fs::metadata(&file).and_then(|m| m.modified()) {
            Ok(modified) => found.push((modified, file)),
            Err(_) => {
                let _ = std::fs::remove_dir_all(&slot);
            }
        }
    }
    let legacy = dir.join(AUTOSAVE_FILE);
    if dir.join(SESSION_MARKER).exists() {
        if let Ok(modified) = std::fs::metadata(&legacy).and_then(|m| m.modified()) {
            found.push((modified, legacy));
        }
    }
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// Removes the slot folder of an autosave (not the legacy top-level one's directory).
fn remove_slot_of(autosave: &Path) {
    match autosave.parent() {
        Some(slot) if slot.parent().and_then(|s| s.file_name()) == Some(SESSIONS_DIR.as_ref()) => {
            let _ = std::fs::remove_dir_all(slot);
        }
        Some(dir) => {
            let _ = std::fs::remove_file(dir.join(SESSION_MARKER));
        }
        None => {}
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

    /// Writes an autosave of `fill` through `a`'s delay.
    fn write(a: &mut Autosave, generation: u64, fill: u16) {
        a.tick(0.0, generation, || project(fill)).unwrap();
        a.tick(AUTOSAVE_DELAY_S, generation, || project(fill))
            .unwrap();
    }

    #[test]
    fn saves_after_delay_and_recovers_after_unclean_exit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, recover) = Autosave::start(dir.path()).unwrap();
        assert!(recover.is_empty());
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

        let crashed = a.file();
        a.abandon();
        let (mut b, recover) = Autosave::start(dir.path()).unwrap();
        assert_eq!(recover, vec![crashed.clone()]);
        b.adopt(&crashed).unwrap();
        assert!(
            !crashed.exists() && b.file().exists(),
            "moved into b's slot"
        );
        b.finish(false);
        let (_c, recover) = Autosave::start(dir.path()).unwrap();
        assert!(
            recover.is_empty(),
            "clean exit without unsaved work offers nothing"
        );
    }

    /// Two painters at once: separate files, neither sees the other as crashed, and each one's
    /// exit leaves the other's autosave alone.
    #[test]
    fn two_running_painters_keep_separate_autosaves() {
        let dir = tempfile::tempdir().unwrap();
        let (mut first, _) = Autosave::start(dir.path()).unwrap();
        write(&mut first, 1, 1);
        let (mut second, recover) = Autosave::start(dir.path()).unwrap();
        assert!(
            recover.is_empty(),
            "a running painter is not an unclean exit"
        );
        assert_ne!(first.file(), second.file());
        write(&mut second, 1, 2);
        second.finish(false);
        assert!(
            first.file().exists(),
            "the other's exit keeps the first's autosave"
        );
        let first_file = first.file();
        first.abandon();
        let (_third, recover) = Autosave::start(dir.path()).unwrap();
        assert_eq!(recover, vec![first_file]);
    }

    /// A clean exit with work not saved to a project keeps the autosave for the next start;
    /// every orphan is offered, newest first, and a discarded one is gone.
    #[test]
    fn unsaved_work_at_exit_is_offered_and_every_orphan_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, _) = Autosave::start(dir.path()).unwrap();
        let (mut b, _) = Autosave::start(dir.path()).unwrap();
        write(&mut a, 1, 1);
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&mut b, 1, 2);
        let (a_file, b_file) = (a.file(), b.file());
        a.finish(true);
        b.abandon();
        let (_c, recover) = Autosave::start(dir.path()).unwrap();
        assert_eq!(recover, vec![b_file.clone(), a_file.clone()]);
        Autosave::discard(&b_file).unwrap();
        assert!(!b_file.parent().unwrap().exists(), "slot removed");
        let (_d, recover) = Autosave::start(dir.path()).unwrap();
        assert_eq!(recover, vec![a_file]);
    }
}
