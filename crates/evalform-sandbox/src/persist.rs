//! `--state FILE`: the sandbox's state as JSON, loaded at start and rewritten after every committed write. A write
//! goes to a temporary file in the same directory, is synced, then renamed over the old one, so a crash leaves
//! either the old state or the new one, never half of either.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::state::SandboxState;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot read the sandbox state file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the sandbox state file {path} is not a sandbox state")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("cannot write the sandbox state file {path}")]
    Write { path: PathBuf, source: std::io::Error },
}

#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: PathBuf) -> Self {
        StateFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or `None` when the file does not exist yet.
    pub fn load(&self) -> std::io::Result<Option<SandboxState>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(std::io::Error::other(PersistError::Read { path: self.path.clone(), source })),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| std::io::Error::other(PersistError::Parse { path: self.path.clone(), source }))
    }

    pub fn save(&self, state: &SandboxState) -> Result<(), PersistError> {
        let err = |source| PersistError::Write { path: self.path.clone(), source };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| err(std::io::Error::other(e)))?;
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(&bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        // Sync the directory too, so the rename itself survives a crash. Best effort: not every platform allows
        // opening a directory.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
