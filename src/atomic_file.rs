//! Files written so that a crash, `kill -9` or a full disk mid-write never leaves a truncated
//! one: the bytes go to `NAME.tmp-PID` in the same folder, are synced, and renamed over
//! `NAME`. Every file the program writes for the user (projects, checkpoints, configs, bundles)
//! goes through here; a killed writer's leftovers carry its process id
//! (`train::checkpoint::remove_stale_temporaries` removes them).
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary name beside `path` this process writes to.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// The process id in a temporary name that [`tmp_path`] made (`NAME.tmp-PID`).
pub fn tmp_owner(name: &str) -> Option<u32> {
    name.rsplit_once(".tmp-")?.1.parse().ok()
}

/// Writes `path` atomically through `write` (which fills the temporary path it is given): temporary file in the same folder, fsync, rename, and
/// fsync of the folder so the rename itself survives a power cut.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = tmp_path(path);
    let result = write(&tmp).and_then(|()| {
        default_permissions(&tmp)?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directory fsync is not supported everywhere; the rename already happened.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Gives the written file the permissions a plain `File::create` gives (0666 less the
/// process's umask): writers that go through a temporary file of their own (safetensors
/// 0.8, which Candle's `save` uses) leave it 0600, so bundles were unreadable to other users.
#[cfg(unix)]
fn default_permissions(file: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = 0o666 & !process_umask();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(file, e))
}

#[cfg(not(unix))]
fn default_permissions(_file: &Path) -> Result<()> {
    Ok(())
}

/// The process's umask as Linux reports it (`Umask:` in `/proc/self/status`); 022 where it
/// cannot be read (reading it through `umask(2)` would change it for other threads).
#[cfg(unix)]
fn process_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Umask:"))?;
            u32::from_str_radix(line.split_whitespace().nth(1)?, 8).ok()
        })
        .unwrap_or(0o022)
}

/// Writes a small text file (config, model card) atomically.
pub fn write_text_atomic(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |tmp| {
        let mut file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| Error::io(tmp, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_private_temporary_gets_the_permissions_a_plain_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap();
        let expected = std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
        let path = dir.path().join("generator.safetensors");
        write_atomic(&path, |tmp| {
            std::fs::write(tmp, "weights").unwrap();
            std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
            Ok(())
        })
        .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected, "{mode:o} vs {expected:o}");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        write_text_atomic(&path, "old").unwrap();
        let failed = write_atomic(&path, |tmp| {
            std::fs::write(tmp, "half").unwrap();
            Err(Error::msg("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        write_text_atomic(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let tmp = tmp_path(&path);
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(tmp_owner(&name), Some(std::process::id()));
    }
}
