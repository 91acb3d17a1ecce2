//! Files written so that no reader ever sees half of one: the one atomic write every command uses (saved plans,
//! `import`, `pull`, `suggest --write`).
//!
//! The contents go to a hidden temporary sibling, are flushed to disk, and the sibling is renamed over the target;
//! then the directory is synced so the rename itself survives a crash. A failure removes the temporary file and
//! leaves the target as it was.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file could not be written: the path, and the operating system's reason.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {error}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// Write `contents` to `target` atomically, creating its directory when needed. A target that is a symbolic link
/// is written through (the file it points to is replaced, the link stays a link); an existing file keeps its
/// permissions, and a read-only one is refused rather than replaced.
pub fn write_atomic(target: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |error| WriteError { path, error }
    };
    let resolved;
    let target = match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = std::fs::canonicalize(target).map_err(fail(target))?;
            resolved.as_path()
        }
        _ => target,
    };
    let permissions = std::fs::metadata(target).ok().map(|m| m.permissions());
    if permissions.as_ref().is_some_and(std::fs::Permissions::readonly) {
        let error = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "the file is read-only");
        return Err(fail(target)(error));
    }
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The process id keeps two evalform processes writing the same file from sharing a temporary file.
    let tmp = dir.join(format!(".{name}.evalform-tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Some(p) = &permissions {
            f.set_permissions(p.clone())?;
        }
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, target)?;
        // The rename is durable only once the directory entry is; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_creates_directories_and_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/plan.json");
        write_atomic(&target, b"first, and longer").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "second");
        let left: Vec<_> =
            std::fs::read_dir(target.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("plan.json")], "no temporary file is left behind");
    }

    #[test]
    fn a_failed_write_names_the_path_and_leaves_the_target() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should go: the rename fails.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        let err = write_atomic(&target, b"data").unwrap_err();
        assert_eq!(err.path, target);
        assert!(err.to_string().starts_with(&format!("cannot write {}: ", target.display())), "{err}");
        assert!(target.join("keep").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file was removed");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_stays_a_link_permissions_stay_and_a_read_only_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink("real.yaml", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is kept");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new", "the file it points to is written");
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o640);

        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_atomic(&real, b"newer").unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new", "a read-only file is left as it was");
    }
}
