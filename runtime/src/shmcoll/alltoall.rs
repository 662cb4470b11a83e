//! Alltoall of equal blocks: every member writes its row (its blocks for
//! the others) into its own part of the area and stamps its arrival cell;
//! each member copies its column out of the others' rows as they arrive.
//! Blocks whose row does not fit go as a sequence of steps, each moving
//! one piece of every block (see the module docs of `shmcoll`). Allgather
//! is the same with a row of one block, the same for every reader.

use std::sync::atomic::{fence, Ordering};

use super::area::ALLTOALL_ROW;
use super::{wait, Area};
use crate::error::MpiResult;

/// Bytes of each block one step moves for a communicator of `n` members
/// and blocks of `block` bytes: the whole block when the row of the
/// `n - 1` others' blocks fits, else a whole number of cache lines.
pub(super) fn piece(n: usize, block: usize, gather: bool) -> usize {
    let others = if gather { 1 } else { n.saturating_sub(1).max(1) };
    if others * block <= ALLTOALL_ROW {
        block
    } else {
        (ALLTOALL_ROW / others) / 64 * 64
    }
}

/// One alltoall of `block`-byte blocks; `send` `None` takes the input
/// from `recv` (in place).
pub(super) fn run(area: &Area, send: Option<&[u8]>, recv: &mut [u8], block: usize) -> MpiResult<()> {
    let me = area.me;
    if let Some(send) = send {
        recv[me * block..(me + 1) * block].copy_from_slice(&send[me * block..(me + 1) * block]);
    }
    if block == 0 {
        return Ok(());
    }
    let src = send.map_or(recv.as_ptr(), |s| s.as_ptr());
    let dst = recv.as_mut_ptr();
    steps(area, src, dst, block, false)
}

/// One allgather of `block`-byte blocks: `send` (one block) goes to block
/// `me` of `recv` on every member; `None` finds it there already (in place).
pub(super) fn allgather(area: &Area, send: Option<&[u8]>, recv: &mut [u8], block: usize) -> MpiResult<()> {
    let me = area.me;
    if let Some(send) = send {
        recv[me * block..(me + 1) * block].copy_from_slice(send);
    }
    if block == 0 {
        return Ok(());
    }
    let dst = recv.as_mut_ptr();
    steps(area, dst, dst, block, true)
}

/// Every step of one alltoall (`gather` false) or allgather.
fn steps(area: &Area, src: *const u8, dst: *mut u8, block: usize, gather: bool) -> MpiResult<()> {
    let p = piece(area.n, block, gather);
    let mut at = 0;
    while at < block {
        let len = p.min(block - at);
        // SAFETY: `src` and `dst` hold `n` blocks of `block` bytes (checked
        // by the callers), and `at + len <= block`.
        unsafe { step(area, src, dst, block, at, len, gather)? };
        at += len;
    }
    Ok(())
}

/// One step: bytes `at..at + len` of every block. In place (`src ==
/// dst`), this rank's row is copied out before any of those bytes of
/// `dst` is overwritten, and other steps touch other bytes. `gather`: the
/// row is bytes `at..at + len` of this rank's own block, for every reader.
///
/// # Safety
/// `src` and `dst` hold `area.n` blocks of `block` bytes, `at + len <= block`.
unsafe fn step(
    area: &Area,
    src: *const u8,
    dst: *mut u8,
    block: usize,
    at: usize,
    len: usize,
    gather: bool,
) -> MpiResult<()> {
    let n = area.n;
    let me = area.me;
    let k = area.next_op();
    let parity = k & 1;
    let row_len = if gather { len } else { (n - 1) * len };
    // This parity's row last carried operation k-2 (or earlier): members
    // still reading it must be done first (usually known already).
    if k > 2 {
        area.wait_progress(k - 2)?;
    }
    let row = area.alltoall_row(me, parity, row_len);
    if gather {
        // SAFETY: as below; block `me` of `src` holds bytes `at..at + len`.
        unsafe { std::ptr::copy_nonoverlapping(src.add(me * block + at), row, len) };
    }
    for j in (0..n).filter(|&j| j != me && !gather) {
        let slot = if j < me { j } else { j - 1 };
        // SAFETY: the row holds `(n - 1) * len` bytes and no member reads
        // it for this parity until the stamp below; block j of `src` holds
        // bytes `at..at + len`.
        unsafe { std::ptr::copy_nonoverlapping(src.add(j * block + at), row.add(slot * len), len) };
    }
    area.cell(me, parity).store(k, Ordering::Release);
    fence(Ordering::SeqCst);
    let arrived = |r: usize| area.cell(r, parity).load(Ordering::Acquire) >= k;
    if (0..n).all(arrived) {
        // Last to arrive (in the fences' order, at least one member sees
        // everyone): wake whoever went to sleep waiting for it.
        area.wake_fenced(0..n)?;
    }
    // Copy out of each member's row as soon as it is stamped. `pending`
    // holds the members not copied yet (at most 64: `MAX_MEMBERS`).
    let mut pending: u64 = (0..n).filter(|&r| r != me).fold(0, |m, r| m | 1 << r);
    let slot = |r: usize| {
        if gather {
            0
        } else if me < r {
            me
        } else {
            me - 1
        }
    };
    loop {
        let mut left = pending;
        while left != 0 {
            let r = left.trailing_zeros() as usize;
            left &= left - 1;
            if arrived(r) {
                // SAFETY: stamped with k, so written; member r does not
                // rewrite this parity's row before this rank arrives at
                // k+1. Block r of `dst` holds bytes `at..at + len`.
                unsafe {
                    let from = area.alltoall_row(r, parity, row_len).add(slot(r) * len);
                    std::ptr::copy_nonoverlapping(from, dst.add(r * block + at), len);
                }
                pending &= !(1 << r);
            }
        }
        if pending == 0 {
            break;
        }
        wait(area, || {
            let mut left = pending;
            while left != 0 {
                let r = left.trailing_zeros() as usize;
                left &= left - 1;
                if arrived(r) {
                    return true;
                }
            }
            false
        })?;
    }
    // Everyone arrived at k, so finished k-1.
    area.note_progress(k - 1);
    Ok(())
}
