//! A document's original bytes on their way into the store: in memory (a text document, a fetched
//! page) or spooled to a temporary file (an upload's files, so that a request holding several files
//! of megabytes, or many such requests waiting for the writer, do not hold them in memory).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

/// Original bytes to store.
#[derive(Debug, Clone)]
pub enum Blob {
    Memory(bytes::Bytes),
    Spooled(Arc<Spool>),
}

impl Blob {
    /// How many bytes.
    pub fn len(&self) -> u64 {
        match self {
            Self::Memory(bytes) => bytes.len() as u64,
            Self::Spooled(spool) => spool.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in memory, read on a blocking thread if they are spooled (into a buffer allocated
    /// here, on the caller's thread: see `dialplane_extract::extract_loaded` for why).
    pub async fn bytes(&self) -> std::io::Result<bytes::Bytes> {
        match self {
            Self::Memory(bytes) => Ok(bytes.clone()),
            Self::Spooled(spool) => {
                let spool = spool.clone();
                let mut buf = vec![0; usize::try_from(spool.len()).unwrap_or(usize::MAX)];
                tokio::task::spawn_blocking(move || spool.read_into(&mut buf).map(|()| buf))
                    .await
                    .map_err(std::io::Error::other)?
                    .map(bytes::Bytes::from)
            }
        }
    }
}

/// Bytes written to an anonymous temporary file (unlinked from the start, so nothing is left behind
/// however the process ends). Reads take the file's lock: they seek, and the offset is shared.
#[derive(Debug)]
pub struct Spool {
    file: Mutex<File>,
    len: u64,
}

impl Spool {
    /// The `len` bytes written to `file` (a file opened for reading, e.g. `tempfile::tempfile()`).
    pub fn new(file: File, len: u64) -> Self {
        Self {
            file: Mutex::new(file),
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every byte (blocking).
    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0; usize::try_from(self.len).unwrap_or(usize::MAX)];
        self.read_into(&mut out)?;
        Ok(out)
    }

    /// Reads the first `out.len()` bytes into `out` (blocking).
    pub fn read_into(&self, out: &mut [u8]) -> std::io::Result<()> {
        self.with_file(|file| file.read_exact(out))?
    }

    /// Copies every byte to `out` (blocking); an error if the file no longer holds `len` bytes.
    pub fn copy_to(&self, out: &mut impl Write) -> std::io::Result<u64> {
        let copied = self.with_file(|file| std::io::copy(&mut file.take(self.len), out))??;
        if copied != self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the spooled file has {copied} of its {} bytes", self.len),
            ));
        }
        Ok(copied)
    }

    /// `f` on the file, read from its start (blocking: no other reader meanwhile).
    pub fn with_file<T>(&self, f: impl FnOnce(&mut File) -> T) -> std::io::Result<T> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("a reader of the spool panicked"))?;
        file.seek(SeekFrom::Start(0))?;
        Ok(f(&mut file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_reads_back_what_was_written_every_time() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"hello spool").unwrap();
        let spool = Spool::new(file, 11);
        assert_eq!(spool.read_all().unwrap(), b"hello spool");
        assert_eq!(
            spool.read_all().unwrap(),
            b"hello spool",
            "read again from the start"
        );
        let short = Spool::new(tempfile::tempfile().unwrap(), 3);
        assert_eq!(
            short.read_all().unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }
}
