//! Reading the files a user names (manifests, components): regular files
//! only, and never more than a cap.
//!
//! A path can name a FIFO (opening it for reading blocks until a writer
//! comes), a device (`/dev/zero` never ends) or a directory. So the file is
//! opened with `O_NONBLOCK`, the *opened* file is checked (no race with a
//! rename between a check and the open), and at most `cap + 1` bytes are
//! read: memory stays bounded by the cap whatever the file claims.

use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// The largest manifest weld reads.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The largest component weld reads.
pub const MAX_COMPONENT_BYTES: u64 = 1 << 30;

/// Why a named file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Opening or reading failed (shown as the system's error itself, so
    /// a chain of causes names it once).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The path is not a regular file.
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// The file is larger than the cap.
    #[error("it is larger than the {cap}-byte limit")]
    TooLarge {
        /// The cap, in bytes.
        cap: u64,
    },
}

/// How much weld reads of the files a user names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// The largest manifest, in bytes.
    pub manifest_bytes: u64,
    /// The largest component, in bytes.
    pub component_bytes: u64,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            manifest_bytes: MAX_MANIFEST_BYTES,
            component_bytes: MAX_COMPONENT_BYTES,
        }
    }
}

/// The magic number that starts every WebAssembly binary, core module or
/// component.
pub const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Whether the regular file at `path` starts with [`WASM_MAGIC`]: weld tells
/// a component from a manifest by its first bytes, not its extension.
/// Reads at most four bytes.
///
/// # Errors
/// [`InputError`] when `path` cannot be opened or is not a regular file.
pub fn is_wasm(path: &Path) -> Result<bool, InputError> {
    let (file, _) = regular(open(path, 0)?)?;
    let mut head = Vec::with_capacity(4);
    file.take(4).read_to_end(&mut head)?;
    Ok(head == WASM_MAGIC)
}

/// Reads the regular file at `path`, at most `cap` bytes.
///
/// # Errors
/// [`InputError`] when `path` cannot be opened, is not a regular file, or is
/// larger than `cap`.
pub fn read_file(path: &Path, cap: u64) -> Result<Vec<u8>, InputError> {
    read_opened(regular(open(path, 0)?)?, cap).map(|(bytes, _)| bytes)
}

/// Reads the regular file at `path` as [`read_file`] does, but refuses a
/// symbolic link (opened with `O_NOFOLLOW`) and also returns the metadata
/// of the file actually read, so the caller can check its owner and mode
/// without a race: for files weld wrote itself (the compile cache).
///
/// # Errors
/// [`InputError`] when `path` is a symbolic link, cannot be opened, is not a
/// regular file, or is larger than `cap`.
pub fn read_own_file(path: &Path, cap: u64) -> Result<(Vec<u8>, std::fs::Metadata), InputError> {
    let file = match open(path, libc::O_NOFOLLOW) {
        Ok(file) => file,
        // `O_NOFOLLOW` on a symbolic link fails with `ELOOP`; a loop in
        // a parent fails the same way, so look before naming it.
        Err(InputError::Io(e))
            if e.raw_os_error() == Some(libc::ELOOP)
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            return Err(InputError::NotRegular("a symbolic link"));
        }
        Err(e) => return Err(e),
    };
    read_opened(regular(file)?, cap)
}

/// Opens `path` for reading without blocking (opening a FIFO would wait
/// for a writer), with `flags` besides.
fn open(path: &Path, flags: libc::c_int) -> Result<std::fs::File, InputError> {
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | flags)
        .open(path)?)
}

/// The opened `file` and its metadata, when it is a regular file.
fn regular(file: std::fs::File) -> Result<(std::fs::File, std::fs::Metadata), InputError> {
    let meta = file.metadata()?;
    let kind = meta.file_type();
    let what = if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        None
    };
    match what {
        Some(what) => Err(InputError::NotRegular(what)),
        None => Ok((file, meta)),
    }
}

/// Reads at most `cap` bytes of an opened regular file.
fn read_opened(
    (file, meta): (std::fs::File, std::fs::Metadata),
    cap: u64,
) -> Result<(Vec<u8>, std::fs::Metadata), InputError> {
    if meta.len() > cap {
        return Err(InputError::TooLarge { cap });
    }
    // The size may change under us: read one byte past the cap to tell.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(InputError::TooLarge { cap });
    }
    Ok((bytes, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        assert!(matches!(
            read_file(&fifo, 100),
            Err(InputError::NotRegular("a FIFO"))
        ));
        assert!(matches!(
            read_file(Path::new("/dev/zero"), 100),
            Err(InputError::NotRegular("a device"))
        ));
        assert!(matches!(
            read_file(dir.path(), 100),
            Err(InputError::NotRegular("a directory"))
        ));
        assert!(matches!(
            is_wasm(&fifo),
            Err(InputError::NotRegular("a FIFO"))
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn reads_up_to_the_cap_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, [7u8; 64]).unwrap();
        assert_eq!(read_file(&f, 64).unwrap().len(), 64);
        assert!(matches!(
            read_file(&f, 63),
            Err(InputError::TooLarge { cap: 63 })
        ));
        assert!(!is_wasm(&f).unwrap());
        std::fs::write(&f, b"\0asm\x0d\0\x01\0").unwrap();
        assert!(is_wasm(&f).unwrap());
        std::fs::write(&f, b"\0as").unwrap();
        assert!(!is_wasm(&f).unwrap());
    }

    #[test]
    fn read_own_file_refuses_a_symbolic_link() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, [7u8; 8]).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read_file(&link, 64).unwrap().len(), 8);
        assert!(matches!(
            read_own_file(&link, 64),
            Err(InputError::NotRegular("a symbolic link"))
        ));
        let (bytes, meta) = read_own_file(&f, 64).unwrap();
        assert_eq!((bytes.len(), meta.len()), (8, 8));
    }
}
