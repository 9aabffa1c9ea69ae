//! Installing the crew's built web app on the box: from an upload in the console or from
//! `venuebox ui install FILE|DIR` (which packs a folder and uploads it).
//!
//! An archive (`.zip` or `.tar.gz`, told apart by their first bytes) is checked whole (names,
//! kinds and sizes) before anything is written, then streamed to disk file by file, so
//! installing holds no more than the upload in memory: at most [`MAX_FILES`] entries and [`MAX_UNPACKED_BYTES`] unpacked,
//! every path relative and inside the folder (no `..`, no absolute path, no drive, no
//! backslash), no symlink, hard link or device, and an `index.html` at the top (or at the top
//! of the one folder everything is in, as `dist/` in a zipped build). It is unpacked into a
//! new release folder under `<data>/ui/releases/`, and only then made current by renaming a
//! one-line pointer file over the old one, so a box cut off mid-install serves the previous
//! app. The previous release is kept for a one-click rollback; older ones are removed.
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;

use serde::Serialize;

/// The largest upload taken (the body limit of the install route).
pub const MAX_ARCHIVE_BYTES: usize = 64 * 1024 * 1024;
/// What an archive may unpack to, in all.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// Entries an archive may hold.
pub const MAX_FILES: usize = 10_000;

const UI_DIR: &str = "ui";
const RELEASES: &str = "releases";
const CURRENT: &str = "current";
const PREVIOUS: &str = "previous";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The upload is not an app this box will serve; the message says why.
    #[error("{0}")]
    Invalid(String),
    #[error("nothing to roll back to: no previous app is kept")]
    NoPrevious,
    #[error("cannot install the app: {0}")]
    Io(#[from] std::io::Error),
}

/// One installed release, as the console lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub release: String,
    pub files: usize,
    pub bytes: u64,
}

/// What the box serves as the crew app: the installed release if there is one, else the
/// configured folder (`ui.static_dir`), else nothing (then `/` is the box's own page).
pub struct AppSlot {
    root: PathBuf,
    configured: Option<PathBuf>,
    current: RwLock<Option<PathBuf>>,
    /// One install or rollback at a time.
    changing: std::sync::Mutex<()>,
}

impl AppSlot {
    pub fn open(data_dir: &Path, configured: Option<PathBuf>) -> AppSlot {
        let root = data_dir.join(UI_DIR);
        let current = read_pointer(&root, CURRENT).map(|name| root.join(RELEASES).join(name));
        AppSlot {
            root,
            configured,
            current: RwLock::new(current.filter(|dir| dir.join("index.html").is_file())),
            changing: std::sync::Mutex::new(()),
        }
    }

    /// The folder served now, if any.
    pub fn dir(&self) -> Option<PathBuf> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .or_else(|| self.configured.clone())
    }

    /// What is installed, what is kept for rollback, and where the configured app is.
    pub fn describe(&self) -> serde_json::Value {
        let release = |name: Option<String>| {
            name.and_then(|name| describe_release(&self.root.join(RELEASES).join(&name), name))
        };
        serde_json::json!({
            "installed": release(read_pointer(&self.root, CURRENT)),
            "previous": release(read_pointer(&self.root, PREVIOUS)),
            "configuredDir": self.configured.as_ref().map(|d| d.display().to_string()),
            "serving": if self.current.read().unwrap_or_else(|p| p.into_inner()).is_some() {
                "installed"
            } else if self.configured.is_some() {
                "configured"
            } else {
                "none"
            },
        })
    }

    /// Checks `archive`, unpacks it as a new release and serves it at once.
    pub fn install(&self, archive: &[u8]) -> Result<Release, InstallError> {
        let checked = check_archive(archive)?;
        let _one = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let releases = self.root.join(RELEASES);
        std::fs::create_dir_all(&releases)?;
        let name = release_name(&releases);
        // Unpacked beside the releases under a name no pointer can hold, so nothing serves
        // it until it is whole; removed on any failure.
        let incoming = releases.join(format!(".incoming-{name}"));
        let _ = std::fs::remove_dir_all(&incoming);
        let (files, bytes) = match unpack(archive, &checked, &incoming) {
            Ok(counts) => counts,
            Err(err) => {
                let _ = std::fs::remove_dir_all(&incoming);
                return Err(err);
            }
        };
        std::fs::rename(&incoming, releases.join(&name))?;
        let old = read_pointer(&self.root, CURRENT);
        write_pointer(&self.root, CURRENT, &name)?;
        if let Some(old) = &old {
            write_pointer(&self.root, PREVIOUS, old)?;
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(releases.join(&name));
        self.remove_unreferenced();
        tracing::info!(release = %name, files, bytes, "crew app installed");
        Ok(Release {
            release: name,
            files,
            bytes,
        })
    }

    /// Serves the previous release again; the one replaced becomes the previous.
    pub fn rollback(&self) -> Result<Release, InstallError> {
        let _one = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let previous = read_pointer(&self.root, PREVIOUS).ok_or(InstallError::NoPrevious)?;
        let dir = self.root.join(RELEASES).join(&previous);
        let release = describe_release(&dir, previous.clone()).ok_or(InstallError::NoPrevious)?;
        let current = read_pointer(&self.root, CURRENT);
        write_pointer(&self.root, CURRENT, &previous)?;
        match current {
            Some(current) => write_pointer(&self.root, PREVIOUS, &current)?,
            None => remove_pointer(&self.root, PREVIOUS)?,
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(dir);
        tracing::info!(release = %previous, "crew app rolled back");
        Ok(release)
    }

    /// Removes releases neither current nor previous (and unfinished installs).
    fn remove_unreferenced(&self) {
        let keep = [
            read_pointer(&self.root, CURRENT),
            read_pointer(&self.root, PREVIOUS),
        ];
        let Ok(listing) = std::fs::read_dir(self.root.join(RELEASES)) else {
            return;
        };
        for entry in listing.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.iter().flatten().any(|k| *k == name) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn read_pointer(root: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(root.join(name)).ok()?;
    let release = text.trim();
    // A pointer names a folder in `releases/`, nothing else.
    (!release.is_empty()
        && release
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    .then(|| release.to_owned())
}

fn write_pointer(root: &Path, name: &str, release: &str) -> std::io::Result<()> {
    let staging = root.join(format!("{name}.new"));
    venuebox_store::write_private(&staging, &format!("{release}\n"))?;
    std::fs::rename(&staging, root.join(name))
}

fn remove_pointer(root: &Path, name: &str) -> std::io::Result<()> {
    match std::fs::remove_file(root.join(name)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn release_name(releases: &Path) -> String {
    let stamp = venuebox_store::clock::format_iso(venuebox_store::clock::now())
        .replace([':', '-', '.'], "")
        .replace('T', "-")
        .replace('Z', "");
    let mut name = stamp.clone();
    let mut n = 1;
    while releases.join(&name).exists() {
        n += 1;
        name = format!("{stamp}-{n}");
    }
    name
}

fn describe_release(dir: &Path, name: String) -> Option<Release> {
    if !dir.join("index.html").is_file() {
        return None;
    }
    let (mut files, mut bytes) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).ok()?.flatten() {
            let meta = entry.metadata().ok()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Some(Release {
        release: name,
        files,
        bytes,
    })
}

/// An entry's path, if it stays inside the folder: relative, made of plain names only.
fn safe_path(raw: &str) -> Result<PathBuf, InstallError> {
    let refuse = |why: &str| InstallError::Invalid(format!("{raw:?} {why}"));
    if raw.contains('\\') {
        return Err(refuse("has a backslash in its path"));
    }
    if raw.contains('\0') {
        return Err(refuse("has a NUL in its path"));
    }
    let mut path = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => {
                if part.to_string_lossy().contains(':') {
                    return Err(refuse("names a drive or stream (':' in the path)"));
                }
                path.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("climbs out of the folder ('..')")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("is an absolute path"));
            }
        }
    }
    Ok(path)
}

/// Which of the two archive formats, by its first bytes.
#[derive(Clone, Copy)]
enum Format {
    Zip,
    TarGz,
}

fn format_of(bytes: &[u8]) -> Result<Format, InstallError> {
    if bytes.starts_with(b"PK\x03\x04") {
        Ok(Format::Zip)
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        Ok(Format::TarGz)
    } else {
        Err(InstallError::Invalid(
            "not a .zip or .tar.gz archive of the built app".into(),
        ))
    }
}

/// Counts the entries against the limits, by their declared sizes.
struct Budget {
    files: usize,
    bytes: u64,
}

impl Budget {
    fn take(&mut self, size: u64) -> Result<(), InstallError> {
        self.files += 1;
        self.bytes = self.bytes.saturating_add(size);
        if self.files > MAX_FILES {
            return Err(InstallError::Invalid(format!(
                "more than {MAX_FILES} files: not a built web app"
            )));
        }
        if self.bytes > MAX_UNPACKED_BYTES {
            return Err(InstallError::Invalid(format!(
                "unpacks to more than {} MiB",
                MAX_UNPACKED_BYTES / (1024 * 1024)
            )));
        }
        Ok(())
    }
}

/// One pass over an archive: every entry is checked (a safe path, a plain file or folder,
/// within the budget) and each file handed to `visit` with its path, its declared size and
/// a reader of its contents, which `visit` may leave unread. Nothing is held in memory but
/// the upload itself.
fn each_file(
    bytes: &[u8],
    format: Format,
    mut visit: impl FnMut(&Path, u64, &mut dyn Read) -> Result<(), InstallError>,
) -> Result<(), InstallError> {
    let mut budget = Budget { files: 0, bytes: 0 };
    match format {
        Format::Zip => {
            let unreadable = |e: zip::result::ZipError| {
                InstallError::Invalid(format!("the .zip cannot be read: {e}"))
            };
            let mut archive =
                zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(unreadable)?;
            for index in 0..archive.len() {
                let mut file = archive.by_index(index).map_err(unreadable)?;
                let name = file
                    .name()
                    .map_err(|e| {
                        InstallError::Invalid(format!("an entry's name cannot be read: {e}"))
                    })?
                    .into_owned();
                if file.is_symlink() {
                    return Err(InstallError::Invalid(format!("{name:?} is a symlink")));
                }
                let path = safe_path(&name)?;
                if file.is_dir() {
                    continue;
                }
                budget.take(file.size())?;
                let size = file.size();
                visit(&path, size, &mut file)?;
            }
        }
        Format::TarGz => {
            let unreadable = |e: std::io::Error| {
                InstallError::Invalid(format!("the .tar.gz cannot be read: {e}"))
            };
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
            for entry in archive.entries().map_err(unreadable)? {
                let mut entry = entry.map_err(unreadable)?;
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let path = safe_path(&name)?;
                match entry.header().entry_type() {
                    tar::EntryType::Directory => continue,
                    tar::EntryType::Regular | tar::EntryType::Continuous => {}
                    // pax and GNU long-name headers are read by the tar crate itself.
                    tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => continue,
                    tar::EntryType::Symlink => {
                        return Err(InstallError::Invalid(format!("{name:?} is a symlink")));
                    }
                    tar::EntryType::Link => {
                        return Err(InstallError::Invalid(format!("{name:?} is a hard link")));
                    }
                    _ => {
                        return Err(InstallError::Invalid(format!(
                            "{name:?} is not a plain file or folder"
                        )));
                    }
                }
                let size = entry.size();
                budget.take(size)?;
                visit(&path, size, &mut entry)?;
            }
        }
    }
    Ok(())
}

/// A checked archive: its format and the folder to drop from every path (`dist/`).
struct Checked {
    format: Format,
    strip: PathBuf,
}

/// Every entry checked, reading names, kinds and sizes only; then `index.html` at the top, or
/// everything in one folder with `index.html` at its top (that folder is dropped).
fn check_archive(bytes: &[u8]) -> Result<Checked, InstallError> {
    let format = format_of(bytes)?;
    let mut paths = Vec::new();
    each_file(bytes, format, |path, _, _| {
        paths.push(path.to_path_buf());
        Ok(())
    })?;
    if paths.iter().any(|p| p == Path::new("index.html")) {
        return Ok(Checked {
            format,
            strip: PathBuf::new(),
        });
    }
    let folder = paths
        .first()
        .and_then(|p| p.components().next())
        .map(|c| PathBuf::from(c.as_os_str()));
    if let Some(folder) = folder
        && paths
            .iter()
            .all(|p| p.components().count() > 1 && p.starts_with(&folder))
        && paths.iter().any(|p| *p == folder.join("index.html"))
    {
        return Ok(Checked {
            format,
            strip: folder,
        });
    }
    Err(InstallError::Invalid(
        "no index.html at the top of the archive: upload the app's build folder (e.g. dist/)"
            .into(),
    ))
}

/// Writes the checked archive's files under `dir`, each streamed to its file; a file whose
/// contents are not the size its header declared stops the install.
fn unpack(bytes: &[u8], checked: &Checked, dir: &Path) -> Result<(usize, u64), InstallError> {
    std::fs::create_dir_all(dir)?;
    let (mut files, mut total) = (0, 0);
    each_file(bytes, checked.format, |path, size, contents| {
        let relative = path.strip_prefix(&checked.strip).unwrap_or(path);
        let file = dir.join(relative);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&file)?;
        let written = std::io::copy(&mut contents.take(size.saturating_add(1)), &mut out)?;
        if written != size {
            return Err(InstallError::Invalid(format!(
                "{} is not the size its header says",
                path.display()
            )));
        }
        files += 1;
        total += size;
        Ok(())
    })?;
    Ok((files, total))
}

/// Packs a folder as a `.tar.gz` for upload (`venuebox ui install DIR`), refusing symlinks so
/// the box's checks and the packer agree.
pub fn pack_folder(dir: &Path) -> Result<Vec<u8>, InstallError> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    builder.follow_symlinks(false);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let mut listing: Vec<_> = std::fs::read_dir(&folder)?.collect::<Result<_, _>>()?;
        listing.sort_by_key(|e| e.file_name());
        for entry in listing {
            let kind = entry.file_type()?;
            let relative = entry
                .path()
                .strip_prefix(dir)
                .expect("listed under dir")
                .to_path_buf();
            if kind.is_symlink() {
                return Err(InstallError::Invalid(format!(
                    "{} is a symlink: copy what it points to into the folder",
                    relative.display()
                )));
            } else if kind.is_dir() {
                pending.push(entry.path());
            } else {
                builder.append_path_with_name(entry.path(), &relative)?;
            }
        }
    }
    Ok(builder.into_inner()?.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn installs_serves_and_rolls_back() {
        let data = tempfile::tempdir().unwrap();
        let slot = AppSlot::open(data.path(), None);
        assert!(slot.dir().is_none());
        let first = slot
            .install(&tar_gz(&[
                ("dist/index.html", b"one"),
                ("dist/assets/a.js", b"1"),
            ]))
            .unwrap();
        assert_eq!(first.files, 2);
        let served = slot.dir().unwrap();
        assert_eq!(std::fs::read(served.join("index.html")).unwrap(), b"one");
        assert_eq!(std::fs::read(served.join("assets/a.js")).unwrap(), b"1");
        std::thread::sleep(std::time::Duration::from_millis(5));
        slot.install(&tar_gz(&[("index.html", b"two")])).unwrap();
        assert_eq!(
            std::fs::read(slot.dir().unwrap().join("index.html")).unwrap(),
            b"two"
        );
        // A restart finds the installed release.
        let reopened = AppSlot::open(data.path(), None);
        assert_eq!(
            std::fs::read(reopened.dir().unwrap().join("index.html")).unwrap(),
            b"two"
        );
        let back = slot.rollback().unwrap();
        assert_eq!(back.release, first.release);
        assert_eq!(
            std::fs::read(slot.dir().unwrap().join("index.html")).unwrap(),
            b"one"
        );
        // Rolling back again returns to the newer one.
        slot.rollback().unwrap();
        assert_eq!(
            std::fs::read(slot.dir().unwrap().join("index.html")).unwrap(),
            b"two"
        );
        // Only two releases are kept.
        std::thread::sleep(std::time::Duration::from_millis(5));
        slot.install(&tar_gz(&[("index.html", b"three")])).unwrap();
        let kept = std::fs::read_dir(data.path().join("ui/releases"))
            .unwrap()
            .count();
        assert_eq!(kept, 2);
    }

    #[test]
    fn refuses_what_is_not_a_safe_app() {
        let data = tempfile::tempdir().unwrap();
        let slot = AppSlot::open(data.path(), None);
        let refused = |archive: Vec<u8>| match slot.install(&archive) {
            Err(InstallError::Invalid(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(refused(b"<html>".to_vec()).contains("not a .zip or .tar.gz"));
        assert!(refused(tar_gz(&[("app.js", b"x")])).contains("no index.html"));
        // A path that climbs out, written raw into the header (the tar crate's own API
        // refuses to build one).
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..12].copy_from_slice(b"../evil.html");
        header.set_size(1);
        header.set_cksum();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        builder.append(&header, &b"x"[..]).unwrap();
        let climbing = builder.into_inner().unwrap().finish().unwrap();
        assert!(refused(climbing).contains("climbs out"));
        let mut symlink = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        symlink
            .append_link(&mut header, "index.html", "/etc/passwd")
            .unwrap();
        assert!(refused(symlink.into_inner().unwrap().finish().unwrap()).contains("symlink"));
        for raw in ["/etc/x", "a\\b", "C:evil"] {
            assert!(safe_path(raw).is_err(), "{raw}");
        }
        // Nothing was installed by any of these.
        assert!(slot.dir().is_none());
        assert!(matches!(slot.rollback(), Err(InstallError::NoPrevious)));
    }

    #[test]
    fn a_folder_packs_into_what_installs() {
        let app = tempfile::tempdir().unwrap();
        std::fs::write(app.path().join("index.html"), "app").unwrap();
        std::fs::create_dir(app.path().join("assets")).unwrap();
        std::fs::write(app.path().join("assets/x.css"), "x").unwrap();
        let data = tempfile::tempdir().unwrap();
        let slot = AppSlot::open(data.path(), None);
        let release = slot.install(&pack_folder(app.path()).unwrap()).unwrap();
        assert_eq!(release.files, 2);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", app.path().join("leak")).unwrap();
            assert!(pack_folder(app.path()).is_err());
        }
    }
}
