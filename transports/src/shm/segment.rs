//! The shared-memory segment a rank owns: a file under `/dev/shm`, mapped
//! read-write and shared, that holds the rank's inbound rings and its
//! `sleeping` flag.
//!
//! Layout (all offsets from the start of the mapping, little endian, native
//! atomics):
//!
//! ```text
//! 0     SegmentHeader   magic, version, owner rank and pid, ring geometry
//! 64    cpu             AtomicU32: 1 + the CPU the owner last waited on
//!                       (0: not known), written only when it changes
//! 128   sleeping        AtomicU32 on its own cache-line pair
//! 256   ring[0]         RING_HEADER_BYTES of head / tail / producer-waiting
//!                       lines, then ring_bytes of data
//! ...   ring[i]         at RINGS_OFFSET + i * ring_stride; ring i carries the
//!                       packets from the i-th rank of the sorted local ranks
//! ```
//!
//! The creator fills the header before publishing its card, so an attacher
//! that read the card sees a complete header.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;

use crate::TransportError;

use super::ring::RING_HEADER_BYTES;

/// "RMPISHM1" as a little-endian u64.
const MAGIC: u64 = u64::from_le_bytes(*b"RMPISHM1");
/// Layout version; bump when the layout changes.
const VERSION: u32 = 2;
/// Offset of the `sleeping` flag.
const SLEEPING_OFFSET: usize = 128;
/// Offset of the `cpu` word (after the header, on its own line).
const CPU_OFFSET: usize = 64;
/// Offset of the first ring.
const RINGS_OFFSET: usize = 256;

/// The fixed fields at the start of every segment.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentHeader {
    pub magic: u64,
    pub version: u32,
    pub n_local: u32,
    pub owner_rank: u32,
    pub owner_pid: u32,
    /// Data bytes per ring (multiple of 64).
    pub ring_bytes: u64,
    /// Distance between two rings (header + data, page aligned).
    pub ring_stride: u64,
}

/// A shared, read-write mapping of a whole file; unmapped on drop.
pub(crate) struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; all concurrent
// access to it goes through atomics or the ring protocol, which are
// thread-agnostic, so moving the owner to another thread is fine.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Map `len` bytes of `file` shared and read-write.
    fn map(file: &std::fs::File, len: usize) -> Result<Self, TransportError> {
        // SAFETY: asks the kernel for a fresh mapping (no fixed address) of
        // an open file descriptor; the result is checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(TransportError::io("mmap", io::Error::last_os_error()));
        }
        Ok(Mapping { ptr: ptr.cast(), len })
    }

    /// Base address of the mapping.
    pub fn base(&self) -> *mut u8 {
        self.ptr
    }

    /// Read the segment header.
    pub fn header(&self) -> SegmentHeader {
        // SAFETY: every mapping is at least RINGS_OFFSET bytes (checked at
        // creation and attach) and page aligned, so the header is in bounds
        // and aligned; it is written once before the card is published.
        unsafe { std::ptr::read_volatile(self.ptr as *const SegmentHeader) }
    }

    /// The owner's `sleeping` flag.
    pub fn sleeping(&self) -> &AtomicU32 {
        // SAFETY: SLEEPING_OFFSET + 4 <= RINGS_OFFSET <= len, the address is
        // 4-byte aligned, and the word is only ever accessed atomically.
        unsafe { &*(self.ptr.add(SLEEPING_OFFSET) as *const AtomicU32) }
    }

    /// The owner's `cpu` word: 1 + the CPU it last waited on, 0 unknown.
    pub fn cpu(&self) -> &AtomicU32 {
        // SAFETY: CPU_OFFSET + 4 <= SLEEPING_OFFSET <= len, the address is
        // 4-byte aligned, and the word is only ever accessed atomically.
        unsafe { &*(self.ptr.add(CPU_OFFSET) as *const AtomicU32) }
    }

    /// Base address of ring `i` (its header), checked against the length.
    pub fn ring_base(&self, i: usize) -> Option<*mut u8> {
        let h = self.header();
        let off = RINGS_OFFSET + i * h.ring_stride as usize;
        if i >= h.n_local as usize || off + RING_HEADER_BYTES + h.ring_bytes as usize > self.len {
            return None;
        }
        // SAFETY: `off` is within the mapping (checked just above).
        Some(unsafe { self.ptr.add(off) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range mmap returned; no reference into
        // it outlives the Mapping (rings borrow it through their owner).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Total segment size for `n` rings of `ring_bytes` data bytes each.
fn ring_stride(ring_bytes: usize) -> usize {
    (RING_HEADER_BYTES + ring_bytes).next_multiple_of(4096)
}

/// The segment this rank created: mapping plus the path while linked.
pub(crate) struct OwnSegment {
    pub map: Mapping,
    path: Option<PathBuf>,
}

/// Create the file at `path` (under `/dev/shm`) for this process alone:
/// exclusively (an existing file is an error, never reused), mode 0600,
/// close-on-exec, and not through a symbolic link.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
}

impl OwnSegment {
    /// Create `/dev/shm/<name>` exclusively with mode 0600, size it for `n`
    /// rings, map it and write the header.
    pub fn create(name: &str, n: usize, ring_bytes: usize, rank: u32) -> Result<Self, TransportError> {
        let path = Path::new("/dev/shm").join(name);
        let file = create_private(&path).map_err(|e| TransportError::io("create shm segment", e))?;
        // From here on, remove the file again if anything fails.
        let cleanup = |e: TransportError| {
            let _ = std::fs::remove_file(&path);
            e
        };
        let stride = ring_stride(ring_bytes);
        let len = RINGS_OFFSET + n * stride;
        file.set_len(len as u64).map_err(|e| cleanup(TransportError::io("size shm segment", e)))?;
        let map = Mapping::map(&file, len).map_err(cleanup)?;
        let seg = OwnSegment { map, path: Some(path) };
        let header = SegmentHeader {
            magic: MAGIC,
            version: VERSION,
            n_local: n as u32,
            owner_rank: rank,
            owner_pid: std::process::id(),
            ring_bytes: ring_bytes as u64,
            ring_stride: stride as u64,
        };
        // SAFETY: the fresh mapping is `len >= RINGS_OFFSET` bytes, page
        // aligned, and nobody else can know of it yet (its card is not out).
        unsafe { std::ptr::write_volatile(seg.map.base() as *mut SegmentHeader, header) };
        Ok(seg)
    }

    /// Remove the file name; the mapping stays valid. Idempotent.
    pub fn unlink(&mut self) -> Result<(), TransportError> {
        if let Some(path) = self.path.take() {
            std::fs::remove_file(&path).map_err(|e| TransportError::io("unlink shm segment", e))?;
        }
        Ok(())
    }

    /// Whether the file name still exists (not yet unlinked by us).
    pub fn is_linked(&self) -> bool {
        self.path.is_some()
    }
}

impl Drop for OwnSegment {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Open and map a peer's segment `/dev/shm/<name>` and check its header.
pub(crate) fn attach(name: &str, peer: u32, pid: u32, n: usize) -> Result<Mapping, TransportError> {
    let path = Path::new("/dev/shm").join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| TransportError::io("open peer shm segment", e))?;
    let meta = file.metadata().map_err(|e| TransportError::io("stat peer shm segment", e))?;
    // Only a segment made by our own user (mode 0600) can be a peer's.
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me || meta.mode() & 0o077 != 0 {
            return Err(TransportError::BadCard(format!("segment {name} is not a private segment of this user")));
        }
    }
    let len = meta.len() as usize;
    if len < RINGS_OFFSET {
        return Err(TransportError::BadCard(format!("segment {name} is too small ({len} bytes)")));
    }
    let map = Mapping::map(&file, len)?;
    let h = map.header();
    let bad = |what: &str| Err(TransportError::BadCard(format!("segment {name}: {what}")));
    if h.magic != MAGIC || h.version != VERSION {
        return bad("not an rmpi segment of this version");
    }
    if h.owner_rank != peer || h.owner_pid != pid {
        return bad("owner rank or pid differs from the card");
    }
    if h.n_local as usize != n {
        return bad("number of local ranks differs");
    }
    if h.ring_bytes % 8 != 0 || h.ring_bytes < 4096 || h.ring_stride as usize != ring_stride(h.ring_bytes as usize) {
        return bad("bad ring geometry");
    }
    if RINGS_OFFSET + n * h.ring_stride as usize > len {
        return bad("truncated");
    }
    Ok(map)
}
