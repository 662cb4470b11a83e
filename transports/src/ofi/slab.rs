//! Page-aligned buffer slabs cut into equal slots, registered once with the
//! domain when the provider wants local buffers registered (`FI_MR_LOCAL`).
//!
//! The ofi transport copies every outgoing packet into a send slot and
//! receives into receive slots, so two registrations (made at start-up)
//! cover all its traffic: no registration on the data path, and no cache
//! of user-buffer registrations to keep coherent.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::c_void;

use super::api::{self, Lib};
use super::sys::*;

/// `count` slots of `slot` bytes each.
pub struct Slab {
    base: *mut u8,
    layout: Layout,
    pub slot: usize,
    pub count: usize,
    mr: *mut fid_mr,
}

impl Slab {
    /// Allocate; register with `domain` for `access` when `register`.
    pub fn new(
        lib: &Lib,
        domain: *mut fid_domain,
        slot: usize,
        count: usize,
        register: bool,
        access: u64,
    ) -> Result<Slab, String> {
        let slot = slot.next_multiple_of(64);
        let layout = Layout::from_size_align(slot * count.max(1), 4096).map_err(|e| e.to_string())?;
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { alloc_zeroed(layout) };
        if base.is_null() {
            return Err(format!("out of memory for {} bytes of ofi buffers", layout.size()));
        }
        let mut s = Slab { base, layout, slot, count, mr: std::ptr::null_mut() };
        if register {
            // SAFETY: domain is live; the slab outlives its registration
            // (closed in Drop before the memory is freed).
            let r = unsafe { api::fi_mr_reg(domain, base as *const c_void, layout.size(), access, 0, &mut s.mr) };
            if r != 0 {
                s.mr = std::ptr::null_mut();
                return Err(format!("fi_mr_reg of {} bytes: {}", layout.size(), lib.strerror(r as isize)));
            }
        }
        Ok(s)
    }

    /// Start of slot `i`.
    pub fn ptr(&self, i: usize) -> *mut u8 {
        assert!(i < self.count, "slot {i} of {}", self.count);
        // SAFETY: i < count, so the offset is inside the allocation.
        unsafe { self.base.add(i * self.slot) }
    }

    /// Slot `i` as a slice of `len` bytes.
    ///
    /// # Safety
    /// No operation posted on the slot may be writing to it.
    pub unsafe fn bytes(&self, i: usize, len: usize) -> &[u8] {
        std::slice::from_raw_parts(self.ptr(i), len.min(self.slot))
    }

    /// Slot `i` for writing.
    ///
    /// # Safety
    /// No operation may be posted on the slot.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn bytes_mut(&self, i: usize) -> &mut [u8] {
        std::slice::from_raw_parts_mut(self.ptr(i), self.slot)
    }

    /// The local descriptor to pass with operations on the slab (null when
    /// not registered).
    pub fn desc(&self) -> *mut c_void {
        if self.mr.is_null() {
            std::ptr::null_mut()
        } else {
            // SAFETY: a live registration.
            unsafe { (*self.mr).mem_desc }
        }
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        if !self.mr.is_null() {
            // SAFETY: a live registration, closed once.
            unsafe { api::fi_close(&mut (*self.mr).fid) };
        }
        // SAFETY: allocated with this layout in `new`.
        unsafe { dealloc(self.base, self.layout) };
    }
}
