//! Memory a window owns: heap blocks for `MPI_Win_allocate`, and the
//! `/dev/shm` segment all node-local ranks map for `MPI_Win_allocate_shared`.
//!
//! A shared window's segment holds every rank's part back to back in rank
//! order (MPI's default contiguous layout). The lowest rank creates it
//! (mode 0600, exclusively), the others open and map it, and after a barrier
//! the creator unlinks the name, so nothing stays in `/dev/shm` even if the
//! job dies later.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{ErrorClass, MpiError, MpiResult};

/// Alignment of window memory the library allocates.
const ALIGN: usize = 64;

/// Memory owned by a window (none for user memory and dynamic windows).
pub(crate) enum Memory {
    None,
    Heap { ptr: *mut u8, layout: std::alloc::Layout },
    Shared { ptr: *mut u8, len: usize },
}

// SAFETY: the memory is plain bytes owned by this value, only touched under
// the runtime's lock or by the application (MPI's rules); no thread affinity.
unsafe impl Send for Memory {}

impl Memory {
    /// `len` zeroed bytes on the heap (no memory for 0 bytes).
    pub fn heap(len: usize) -> MpiResult<Memory> {
        if len == 0 {
            return Ok(Memory::None);
        }
        let layout = std::alloc::Layout::from_size_align(len, ALIGN)
            .map_err(|_| MpiError::new(ErrorClass::Size, format!("window size {len} too large")))?;
        // SAFETY: the layout has a nonzero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(MpiError::new(ErrorClass::NoMem, format!("cannot allocate {len} bytes for a window")));
        }
        Ok(Memory::Heap { ptr, layout })
    }

    /// Base address (0 when there is none).
    pub fn base(&self) -> usize {
        match self {
            Memory::None => 0,
            Memory::Heap { ptr, .. } | Memory::Shared { ptr, .. } => *ptr as usize,
        }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        match *self {
            Memory::None => {}
            // SAFETY: allocated by `heap` with this layout; freed once.
            Memory::Heap { ptr, layout } => unsafe { std::alloc::dealloc(ptr, layout) },
            // SAFETY: unmaps exactly the range mmap returned.
            Memory::Shared { ptr, len } => unsafe {
                libc::munmap(ptr.cast(), len);
            },
        }
    }
}

fn io_err(what: &str, e: io::Error) -> MpiError {
    MpiError::new(ErrorClass::RmaShared, format!("{what}: {e}"))
}

/// Path of a shared window segment.
pub(crate) fn segment_path(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(name)
}

/// Create (when `create`) or open the segment `name` of `len` bytes and map it.
pub(crate) fn map_segment(name: &str, len: usize, create: bool) -> MpiResult<Memory> {
    let path = segment_path(name);
    let file = if create {
        rmpi_transports::shm::create_private(&path)
    } else {
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW).open(&path)
    }
    .map_err(|e| io_err("open shared window segment", e))?;
    if create {
        if let Err(e) = file.set_len(len as u64) {
            let _ = std::fs::remove_file(&path);
            return Err(io_err("size shared window segment", e));
        }
    } else {
        let have = file.metadata().map_err(|e| io_err("stat shared window segment", e))?.len();
        if have != len as u64 {
            return Err(MpiError::new(
                ErrorClass::RmaShared,
                format!("shared window segment is {have} bytes, expected {len}"),
            ));
        }
    }
    // SAFETY: a fresh shared mapping (no fixed address) of an open file of
    // `len` bytes; the result is checked for MAP_FAILED.
    let ptr = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, file.as_raw_fd(), 0)
    };
    if ptr == libc::MAP_FAILED {
        if create {
            let _ = std::fs::remove_file(&path);
        }
        return Err(io_err("map shared window segment", io::Error::last_os_error()));
    }
    Ok(Memory::Shared { ptr: ptr.cast(), len })
}
