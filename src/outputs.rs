//! Where a command may write (issue 19): never over what it reads, and never over an existing
//! folder's contents unless the user said `--force`. Every command that writes a folder or a
//! file derived from inputs (`dataset prepare`, `translate`, `bundle`) asks these rules
//! before writing anything; `train --out` has its own equivalent (an existing run is continued
//! with `--resume`, never replaced).
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `path` made absolute with symbolic links resolved as far as it exists (the rest, which
/// does not exist yet, appended as written).
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Whether one of `a` and `b` is the other or lies inside it.
pub fn overlaps(a: &Path, b: &Path) -> bool {
    let (a, b) = (resolved(a), resolved(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// Checks that the folder `out` may receive a command's output: it is not `source`, not
/// inside it and does not contain it; and it is absent or empty unless `force`.
pub fn check_output_dir(out: &Path, source: &Path, force: bool) -> Result<()> {
    if overlaps(out, source) {
        return Err(Error::msg(format!(
            "{}: the output folder overlaps the input {} (the copy would replace or mix with the originals); choose a folder outside it",
            out.display(),
            source.display()
        )));
    }
    check_fresh_dir(out, force)
}

/// Checks that the folder `out` is absent or empty, or that `force` allows replacing what
/// it holds.
pub fn check_fresh_dir(out: &Path, force: bool) -> Result<()> {
    if force || !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(Error::msg(format!(
            "{}: exists and is not a folder",
            out.display()
        )));
    }
    let entries = std::fs::read_dir(out)
        .map_err(|e| Error::io(out, e))?
        .count();
    if entries > 0 {
        return Err(Error::msg(format!(
            "{}: the folder already holds {entries} entr{}; pass --force to write over it or choose another folder",
            out.display(),
            if entries == 1 { "y" } else { "ies" }
        )));
    }
    Ok(())
}

/// Checks the (input, output) file pairs of a command: no output is any input, and no output
/// exists unless `force`.
pub fn check_output_files(jobs: &[(PathBuf, PathBuf)], force: bool) -> Result<()> {
    let inputs: Vec<PathBuf> = jobs.iter().map(|(input, _)| resolved(input)).collect();
    for (_, output) in jobs {
        let target = resolved(output);
        if let Some(input) = inputs.iter().find(|i| **i == target) {
            return Err(Error::msg(format!(
                "{}: the output would overwrite the input {}; choose another output",
                output.display(),
                input.display()
            )));
        }
        if !force && output.exists() {
            return Err(Error::msg(format!(
                "{}: already exists; pass --force to overwrite it",
                output.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_equal_folders_overlap_through_links_and_dots() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("images")).unwrap();
        assert!(overlaps(&data, &data.join("images/../")));
        assert!(overlaps(&data.join("out"), &data));
        assert!(overlaps(&dir.path().join("."), &data));
        assert!(!overlaps(&dir.path().join("copy"), &data));
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&data, &link).unwrap();
            assert!(overlaps(&link.join("new"), &data));
        }
    }

    #[test]
    fn a_folder_with_contents_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        check_output_dir(&out, &source, false).unwrap();
        std::fs::write(out.join("model.json"), "{}").unwrap();
        let err = check_output_dir(&out, &source, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--force") && err.contains("1 entry"), "{err}");
        check_output_dir(&out, &source, true).unwrap();
        let err = check_output_dir(&source.join("x"), &source, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("overlaps the input"), "{err}");
    }
}
