//! Raw views of user buffers held by pending requests.
//!
//! MPI's contract is that a buffer handed to a nonblocking operation stays
//! valid, and is not touched by the user, until the operation completes. The
//! engine stores such buffers as raw pointer + length; this module is the one
//! place that turns them back into slices. The constructors are `unsafe`: the
//! caller promises the MPI contract.

/// A buffer the engine reads from (a send buffer).
#[derive(Debug, Clone, Copy)]
pub struct SendBuf {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is only dereferenced while the owning request is
// pending, under the runtime's lock; the MPI contract keeps the memory valid
// and unaliased by writers until then, whichever thread completes it.
unsafe impl Send for SendBuf {}

impl SendBuf {
    /// # Safety
    /// `ptr..ptr+len` must stay valid for reads, and unmodified, until the
    /// request that holds this buffer completes or is freed by the engine.
    pub unsafe fn new(ptr: *const u8, len: usize) -> SendBuf {
        SendBuf { ptr, len }
    }

    /// An empty buffer (no memory behind it).
    pub fn empty() -> SendBuf {
        SendBuf { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address, as a peer would read it by single copy.
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    /// Bytes `range` of the buffer.
    pub fn slice(&self, start: usize, end: usize) -> &[u8] {
        assert!(start <= end && end <= self.len, "send buffer range out of bounds");
        if start == end {
            return &[];
        }
        // SAFETY: in bounds (checked above); validity is the constructor's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), end - start) }
    }
}

/// A buffer the engine writes into (a receive buffer).
#[derive(Debug, Clone, Copy)]
pub struct RecvBuf {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: as for SendBuf; the user does not touch the buffer until completion.
unsafe impl Send for RecvBuf {}

impl RecvBuf {
    /// # Safety
    /// `ptr..ptr+len` must stay valid for writes, and not be accessed by
    /// anyone else, until the request that holds it completes or is freed.
    pub unsafe fn new(ptr: *mut u8, len: usize) -> RecvBuf {
        RecvBuf { ptr, len }
    }

    /// An empty buffer (no memory behind it).
    pub fn empty() -> RecvBuf {
        RecvBuf { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 }
    }

    /// Capacity in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address, as a peer would write it by single copy.
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    /// Copy `data` in at `offset`; bytes beyond the capacity are dropped
    /// (truncation is reported by the caller). Returns bytes written.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = data.len().min(self.len - offset);
        if n == 0 {
            return 0;
        }
        // SAFETY: offset+n <= len; validity and exclusivity are the
        // constructor's contract; `data` never aliases a receive buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(offset), n) };
        n
    }

    /// Bytes `[start, end)` (clamped to the capacity) as a mutable slice
    /// (for single-copy reads of a part of the message).
    pub fn range_mut(&mut self, start: usize, end: usize) -> &mut [u8] {
        let end = end.min(self.len);
        if start >= end {
            return &mut [];
        }
        // SAFETY: start < end <= len; validity and exclusivity are the constructor's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) }
    }

    /// The first `n` bytes as a mutable slice (for single-copy reads).
    pub fn prefix_mut(&mut self, n: usize) -> &mut [u8] {
        let n = n.min(self.len);
        if n == 0 {
            return &mut [];
        }
        // SAFETY: n <= len; validity and exclusivity are the constructor's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, n) }
    }
}
