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
    /// Opening or reading failed.
    #[error("{0}")]
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

/// Reads the regular file at `path`, at most `cap` bytes.
pub fn read_file(path: &Path, cap: u64) -> Result<Vec<u8>, InputError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    read_opened(file, cap).map(|(bytes, _)| bytes)
}

/// Reads the regular file at `path` as [`read_file`] does, but refuses a
/// symbolic link (opened with `O_NOFOLLOW`) and also returns the metadata
/// of the file actually read, so the caller can check its owner and mode
/// without a race: for files weld wrote itself (the compile cache).
pub fn read_own_file(path: &Path, cap: u64) -> Result<(Vec<u8>, std::fs::Metadata), InputError> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        // `O_NOFOLLOW` on a symbolic link fails with `ELOOP`; a loop in
        // a parent fails the same way, so look before naming it.
        Err(e)
            if e.raw_os_error() == Some(libc::ELOOP)
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            return Err(InputError::NotRegular("a symbolic link"));
        }
        Err(e) => return Err(e.into()),
    };
    read_opened(file, cap)
}

/// Checks that the opened `file` is a regular file and reads at most `cap`
/// bytes of it.
fn read_opened(file: std::fs::File, cap: u64) -> Result<(Vec<u8>, std::fs::Metadata), InputError> {
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
    if let Some(what) = what {
        return Err(InputError::NotRegular(what));
    }
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
