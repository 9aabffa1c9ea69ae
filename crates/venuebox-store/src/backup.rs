//! Backups of the node's database, and restoring one.
//!
//! A snapshot is `VACUUM INTO` on a connection of its own: it reads one consistent state of
//! the database (WAL keeps writers going meanwhile) and writes a compact, self-contained file,
//! which is then opened and checked with `PRAGMA integrity_check` before it counts.
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::clock;
use crate::error::{Result, StoreError};

/// One backup file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupFile {
    pub file: String,
    pub bytes: u64,
    pub created_at: String,
}

const PREFIX: &str = "venuebox-";
const SUFFIX: &str = ".db";

/// Checks that a file is a sound Venuebox database.
pub fn verify(path: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let report: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if report != "ok" {
        return Err(StoreError::Corrupt(format!("{}: {report}", path.display())));
    }
    let ours: bool = conn.query_row(
        "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN ('entities', 'meta')",
        [],
        |row| row.get(0),
    )?;
    if !ours {
        return Err(StoreError::Corrupt(format!(
            "{} is not a Venuebox database",
            path.display()
        )));
    }
    Ok(())
}

/// Writes a snapshot of `database` into `dir` (created if needed) and verifies it.
pub fn snapshot(database: &Path, dir: &Path) -> Result<BackupFile> {
    std::fs::create_dir_all(dir)?;
    crate::make_private(dir)?;
    let now = clock::now();
    let stamp = clock::format_iso(now)
        .replace([':', '-'], "")
        .replace('.', "");
    let mut target = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = dir.join(format!("{PREFIX}{stamp}-{n}{SUFFIX}"));
    }
    let conn = Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute("VACUUM INTO ?1", [target.to_string_lossy().as_ref()])?;
    drop(conn);
    // A backup holds everything the database does: as private as it.
    #[cfg(unix)]
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    if let Err(err) = verify(&target) {
        let _ = std::fs::remove_file(&target);
        return Err(err);
    }
    describe(&target)
}

fn describe(path: &Path) -> Result<BackupFile> {
    let meta = std::fs::metadata(path)?;
    let created = meta
        .modified()
        .ok()
        .map(time::OffsetDateTime::from)
        .map(clock::format_iso)
        .unwrap_or_default();
    Ok(BackupFile {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes: meta.len(),
        created_at: created,
    })
}

/// Backups in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<BackupFile>> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
            })
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    // Names carry a sortable UTC timestamp.
    paths.sort();
    paths.iter().map(|p| describe(p)).collect()
}

/// Deletes all but the newest `keep` backups; returns how many went.
pub fn prune(dir: &Path, keep: usize) -> Result<usize> {
    let all = list(dir)?;
    let excess = all.len().saturating_sub(keep.max(1));
    for old in &all[..excess] {
        std::fs::remove_file(dir.join(&old.file))?;
    }
    Ok(excess)
}

/// Replaces the database in `data_dir` with `file` after checking it. The current database is
/// kept beside it as a backup first. The caller must hold the data folder's lock (the box is
/// not running).
pub fn restore(file: &Path, data_dir: &Path, database: &Path) -> Result<BackupFile> {
    verify(file)?;
    let safety = if database.exists() {
        Some(snapshot(database, &data_dir.join("backups"))?)
    } else {
        None
    };
    let staging = database.with_extension("db.restoring");
    std::fs::copy(file, &staging)?;
    std::fs::File::open(&staging)?.sync_all()?;
    for stale in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(database.with_extension(stale));
    }
    std::fs::rename(&staging, database)?;
    if let Some(parent) = database.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(safety.unwrap_or(BackupFile {
        file: String::new(),
        bytes: 0,
        created_at: String::new(),
    }))
}

/// The file naming a backup to restore at the next start (the console's "restore": the
/// database cannot be swapped under a running box).
pub const STAGED_RESTORE_FILE: &str = "restore-staged.txt";

/// Names `file` to replace the database at the next start, after checking it now.
pub fn stage_restore(data_dir: &Path, file: &Path) -> Result<()> {
    verify(file)?;
    let path = file.canonicalize()?;
    crate::write_private(
        &data_dir.join(STAGED_RESTORE_FILE),
        &format!("{}\n", path.display()),
    )?;
    Ok(())
}

/// The backup staged for the next start, if any.
pub fn staged_restore(data_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(data_dir.join(STAGED_RESTORE_FILE)).ok()?;
    let path = text.trim();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Forgets a staged restore; true if one was staged.
pub fn cancel_staged_restore(data_dir: &Path) -> Result<bool> {
    match std::fs::remove_file(data_dir.join(STAGED_RESTORE_FILE)) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// At start, with the data folder locked: restores the staged backup, if any. The database
/// it replaces is kept in `backups/` first ([`restore`]). A staged file that fails its check
/// now is not restored: the marker is renamed `.failed` and the box starts on its current
/// database, which is untouched.
pub fn apply_staged_restore(data_dir: &Path, database: &Path) -> Result<()> {
    let Some(file) = staged_restore(data_dir) else {
        return Ok(());
    };
    let marker = data_dir.join(STAGED_RESTORE_FILE);
    match restore(&file, data_dir, database) {
        Ok(saved) => {
            std::fs::remove_file(&marker)?;
            tracing::warn!(
                restored = %file.display(),
                previous = %saved.file,
                "restored the staged backup; the database it replaced is kept in backups/"
            );
        }
        Err(err) => {
            std::fs::rename(&marker, marker.with_extension("failed"))?;
            tracing::error!(
                file = %file.display(),
                error = %err,
                "the staged backup was not restored; starting on the current database"
            );
        }
    }
    Ok(())
}
