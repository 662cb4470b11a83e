//! Broadcast through a ring of slots: the root writes and stamps, readers
//! copy out and record what they consumed (see the module docs of
//! `shmcoll`).

use std::sync::atomic::{fence, Ordering};

use super::area::{BCAST_LINES, BCAST_SLOTS, INLINE};
use super::{wait, Area};
use crate::error::MpiResult;

/// One broadcast of `buf` from member `root`.
pub(super) fn run(area: &Area, buf: &mut [u8], root: usize) -> MpiResult<()> {
    let len = buf.len();
    let k = area.next_op();
    let line = k % BCAST_LINES;
    // A broadcast that fits in its line uses no data slot.
    let (slot, depth) = if len <= INLINE { (line, BCAST_LINES) } else { (k % BCAST_SLOTS, BCAST_SLOTS) };
    let me = area.me;
    if me == root {
        // The line last held operation k - LINES, the data slot k - SLOTS:
        // every member must be done with what this operation overwrites.
        // When they are not, wait until they are half a ring behind, not
        // one slot: readers then consume in batches, and the root does not
        // wait (yield, sleep) for every slot.
        if k > depth && !area.all_finished(k - depth) {
            area.wait_progress(k - depth / 2)?;
        }
        if len > 0 {
            // SAFETY: the slot holds `len <= BCAST_MAX` bytes and no member
            // reads it until the stamp below.
            unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), area.bcast_data(slot, len), len) };
        }
        area.done(me).store(k, Ordering::Release);
        area.bcast_seq(line).store(k, Ordering::Release);
        fence(Ordering::SeqCst);
        area.wake_fenced((0..area.n).filter(|&r| r != me))?;
        return area.wake_waiters_fenced();
    }
    let ready = || area.bcast_seq(line).load(Ordering::Acquire) == k;
    if !ready() {
        wait(area, ready)?;
    }
    if len > 0 {
        // SAFETY: stamped with k, so written; the root does not reuse the
        // slot before this rank records k as done below.
        unsafe { std::ptr::copy_nonoverlapping(area.bcast_data(slot, len), buf.as_mut_ptr(), len) };
    }
    area.done(me).store(k, Ordering::Release);
    area.wake_after_done()
}
