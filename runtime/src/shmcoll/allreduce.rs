//! Barrier and allreduce: every member stamps its cell, then reduces all
//! contributions in rank order (see the module docs of `shmcoll`).

use std::sync::atomic::{fence, Ordering};

use rmpi_collectives::ReduceOp;

use super::{wait_for, Area};
use crate::error::MpiResult;

/// One barrier (`op` `None`, `recv` empty) or allreduce: `send` `None`
/// takes the input from `recv` (in place).
pub(super) fn run(area: &Area, send: Option<&[u8]>, recv: &mut [u8], op: Option<&dyn ReduceOp>) -> MpiResult<()> {
    let len = recv.len();
    let k = area.next_op();
    let parity = k & 1;
    let me = area.me;
    let n = area.n;
    // This parity's cell last carried operation k-2 (or earlier): members
    // still reading it must be done first. Usually known already (k-1
    // was an arrival too); not after broadcasts, whose root runs ahead.
    if k > 2 {
        area.wait_progress(k - 2)?;
    }
    if len > 0 {
        let src = send.map_or(recv.as_ptr(), |s| s.as_ptr());
        // SAFETY: the contribution area holds `len <= DATA_MAX` bytes and
        // no member reads it for this parity until the stamp below; `src`
        // holds `len` bytes.
        unsafe { std::ptr::copy_nonoverlapping(src, area.contribution(me, parity, len), len) };
    }
    area.note_cpu();
    area.cell(me, parity).store(k, Ordering::Release);
    fence(Ordering::SeqCst);
    let arrived = || (0..n).all(|r| area.cell(r, parity).load(Ordering::Acquire) >= k);
    if arrived() {
        // Last to arrive (in the fences' order, at least one member sees
        // everyone): wake whoever went to sleep waiting for it.
        area.wake_fenced(0..n)?;
    } else {
        wait_for(area, |r| area.cell(r, parity).load(Ordering::Relaxed) < k, arrived)?;
    }
    // Everyone arrived at k, so finished k-1.
    area.note_progress(k - 1);
    if let Some(op) = op {
        if len > 0 {
            // SAFETY: every member stamped operation k, so its `len` bytes
            // are written, and stay until it reaches k+2, which needs this
            // rank to arrive at k+1 first.
            let part = |r: usize| unsafe { std::slice::from_raw_parts(area.contribution(r, parity, len), len) };
            recv.copy_from_slice(part(n - 1));
            for r in (0..n - 1).rev() {
                op.apply(part(r), recv);
            }
        }
    }
    Ok(())
}
