//! MPI-IO's file views and shared file pointers, over POSIX files.
//!
//! A view is a displacement, an elementary type and a filetype tiled from
//! the displacement at steps of its extent. The data a rank sees is the
//! stream of the filetype's bytes in type-map order, tile after tile; an
//! offset counts etypes in that stream. [`View::segments`] turns a range of
//! the stream into byte ranges of the file (adjacent ones merged).
//!
//! The shared file pointer of a file opened by several processes lives in a
//! small side file next to the data file (8 bytes, the pointer in etypes),
//! updated under an exclusive `flock`; a file opened by one process keeps it
//! in memory.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;

use rmpi_datatype::Datatype;

use crate::consts::MpiDatatype;

/// A file view.
#[derive(Clone)]
pub struct View {
    /// Byte displacement of the first tile.
    pub disp: i64,
    pub etype: Datatype,
    /// The handle the view was set with (returned by `MPI_File_get_view` when predefined).
    pub etype_h: MpiDatatype,
    pub ftype: Datatype,
    pub ftype_h: MpiDatatype,
    pub datarep: String,
    /// Byte blocks of one filetype element, in type-map order: (offset, length).
    blocks: Vec<(i64, u64)>,
    /// Position of each block's first byte in one element's data stream.
    starts: Vec<u64>,
    /// Bytes of data in one filetype element.
    size: u64,
    /// Step between tiles.
    extent: i64,
}

impl View {
    /// A view of `ftype` tiled from `disp`.
    pub fn new(
        disp: i64,
        etype: Datatype,
        etype_h: MpiDatatype,
        ftype: Datatype,
        ftype_h: MpiDatatype,
        datarep: &str,
    ) -> View {
        let mut blocks: Vec<(i64, u64)> = Vec::new();
        for r in ftype.typed_runs() {
            let len = r.count * r.basic.size();
            match blocks.last_mut() {
                Some((off, l)) if *off + *l as i64 == r.offset => *l += len,
                _ => blocks.push((r.offset, len)),
            }
        }
        blocks.retain(|b| b.1 > 0);
        let mut starts = Vec::with_capacity(blocks.len());
        let mut pos = 0;
        for b in &blocks {
            starts.push(pos);
            pos += b.1;
        }
        View {
            disp,
            size: ftype.size(),
            extent: ftype.extent(),
            etype,
            etype_h,
            ftype,
            ftype_h,
            datarep: datarep.to_string(),
            blocks,
            starts,
        }
    }

    /// Bytes in one etype.
    pub fn esize(&self) -> u64 {
        self.etype.size().max(1)
    }

    /// Whether the view's data is one run of bytes from the displacement on.
    fn dense(&self) -> bool {
        self.blocks.len() == 1 && self.blocks[0].1 as i64 == self.extent
    }

    /// The file byte offset of stream position `pos`.
    pub fn byte_offset(&self, pos: u64) -> i64 {
        if self.size == 0 {
            return self.disp;
        }
        let (tile, r) = (pos / self.size, pos % self.size);
        let i = self.starts.partition_point(|&s| s <= r) - 1;
        self.disp + tile as i64 * self.extent + self.blocks[i].0 + (r - self.starts[i]) as i64
    }

    /// The file byte ranges `(offset, length)` of stream bytes `[pos, pos + len)`, in stream order.
    pub fn segments(&self, pos: u64, len: u64) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        if len == 0 || self.size == 0 {
            return out;
        }
        let mut push = |off: i64, n: u64| {
            let off = off.max(0) as u64;
            match out.last_mut() {
                Some((o, l)) if *o + *l == off => *l += n,
                _ => out.push((off, n)),
            }
        };
        if self.dense() {
            push(self.byte_offset(pos), len);
            return out;
        }
        let (mut tile, mut r) = (pos / self.size, pos % self.size);
        let mut left = len;
        let mut i = self.starts.partition_point(|&s| s <= r) - 1;
        while left > 0 {
            let (boff, blen) = self.blocks[i];
            let within = r - self.starts[i];
            let n = (blen - within).min(left);
            push(self.disp + tile as i64 * self.extent + boff + within as i64, n);
            left -= n;
            r += n;
            i += 1;
            if i == self.blocks.len() {
                i = 0;
                r = 0;
                tile += 1;
            }
        }
        out
    }

    /// Stream bytes that lie before file byte `end` (to seek relative to the end of the file).
    pub fn stream_bytes_before(&self, end: u64) -> u64 {
        let end = end as i64;
        if end <= self.disp || self.size == 0 || self.extent <= 0 {
            return 0;
        }
        let rel = end - self.disp;
        let (tiles, rem) = (rel / self.extent, rel % self.extent);
        let part: u64 = self.blocks.iter().map(|&(o, l)| (rem - o).clamp(0, l as i64) as u64).sum();
        tiles as u64 * self.size + part
    }
}

/// Write `data` at stream position `pos` of `view`.
pub fn write_stream(f: &File, view: &View, pos: u64, data: &[u8]) -> io::Result<()> {
    let mut at = 0usize;
    for (off, n) in view.segments(pos, data.len() as u64) {
        f.write_all_at(&data[at..at + n as usize], off)?;
        at += n as usize;
    }
    Ok(())
}

/// Read into `out` from stream position `pos` of `view`; returns the bytes
/// read (fewer at the end of the file).
pub fn read_stream(f: &File, view: &View, pos: u64, out: &mut [u8]) -> io::Result<usize> {
    let mut at = 0usize;
    for (off, n) in view.segments(pos, out.len() as u64) {
        let want = n as usize;
        let mut got = 0;
        while got < want {
            match f.read_at(&mut out[at + got..at + want], off + got as u64) {
                Ok(0) => return Ok(at + got),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        at += want;
    }
    Ok(at)
}

/// A shared file pointer (in etypes).
pub enum SharedPtr {
    /// The file is open in this process only.
    Local(i64),
    /// A side file every process of the group updates under a lock.
    Side { file: File, path: PathBuf },
}

/// An exclusive `flock` held until dropped.
struct Lock<'a>(&'a File);

impl<'a> Lock<'a> {
    fn take(f: &'a File) -> io::Result<Lock<'a>> {
        loop {
            // SAFETY: flock on a descriptor this File owns.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock(f));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        // SAFETY: unlocking a descriptor this File owns.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn read_i64(f: &File) -> io::Result<i64> {
    let mut b = [0u8; 8];
    match f.read_exact_at(&mut b, 0) {
        Ok(()) => Ok(i64::from_le_bytes(b)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        Err(e) => Err(e),
    }
}

impl SharedPtr {
    /// The side file for a data file at `path`, made by one process (`create`) and opened by the others.
    pub fn side_path(path: &std::path::Path, tag: &str) -> PathBuf {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map(|d| d.to_path_buf());
        dir.unwrap_or_else(|| PathBuf::from(".")).join(format!(".{name}.rmpi-shfp-{tag}"))
    }

    /// Create the side file (one process), holding pointer 0.
    pub fn create_side(path: PathBuf) -> io::Result<SharedPtr> {
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        file.write_all_at(&0i64.to_le_bytes(), 0)?;
        Ok(SharedPtr::Side { file, path })
    }

    /// Open a side file another process created.
    pub fn open_side(path: PathBuf) -> io::Result<SharedPtr> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(SharedPtr::Side { file, path })
    }

    /// The pointer.
    pub fn get(&self) -> io::Result<i64> {
        match self {
            SharedPtr::Local(v) => Ok(*v),
            SharedPtr::Side { file, .. } => {
                let _l = Lock::take(file)?;
                read_i64(file)
            }
        }
    }

    /// Set the pointer.
    pub fn set(&mut self, v: i64) -> io::Result<()> {
        match self {
            SharedPtr::Local(x) => {
                *x = v;
                Ok(())
            }
            SharedPtr::Side { file, .. } => {
                let _l = Lock::take(file)?;
                file.write_all_at(&v.to_le_bytes(), 0)
            }
        }
    }

    /// Advance the pointer by `delta`; returns its old value.
    pub fn fetch_add(&mut self, delta: i64) -> io::Result<i64> {
        match self {
            SharedPtr::Local(x) => {
                let old = *x;
                *x += delta;
                Ok(old)
            }
            SharedPtr::Side { file, .. } => {
                let _l = Lock::take(file)?;
                let old = read_i64(file)?;
                file.write_all_at(&(old + delta).to_le_bytes(), 0)?;
                Ok(old)
            }
        }
    }

    /// Remove the side file (one process, when the file is closed).
    pub fn remove(&self) {
        if let SharedPtr::Side { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ft: Datatype, disp: i64) -> View {
        View::new(disp, Datatype::basic(rmpi_datatype::Basic::Int), 0, ft, 0, "native")
    }

    #[test]
    fn dense_view_is_one_segment() {
        let v = view(Datatype::basic(rmpi_datatype::Basic::Int), 10);
        assert_eq!(v.segments(8, 100), vec![(18, 100)]);
        assert_eq!(v.byte_offset(4), 14);
        assert_eq!(v.stream_bytes_before(30), 20);
    }

    #[test]
    fn strided_view_maps_tiles() {
        let int = Datatype::basic(rmpi_datatype::Basic::Int);
        // Two ints out of every four: data at bytes 0..8 of each 16-byte tile.
        let ft = Datatype::resized(&Datatype::contiguous(2, &int).expect("contiguous"), 0, 16).expect("resized");
        let v = view(ft, 0);
        assert_eq!(v.segments(4, 12), vec![(4, 4), (16, 8)]);
        assert_eq!(v.byte_offset(8), 16);
        assert_eq!(v.stream_bytes_before(20), 12);
        let vec = Datatype::vector(2, 1, 2, &int).expect("vector");
        let v = view(vec, 4);
        // A vector's extent ends at its last block: tiles are 12 bytes apart.
        assert_eq!(v.segments(0, 16), vec![(4, 4), (12, 8), (24, 4)]);
    }
}
