//! Small blocking collectives without a schedule: barrier (dissemination),
//! allreduce (recursive doubling, commutative ops, power-of-two sizes) and
//! bcast (binomial tree) of at most [`FAST_MAX`] bytes, and bcast of any
//! size between two ranks (larger allreduces are `bigcoll`'s).
//!
//! Building and running a schedule costs more than the few messages of a
//! small collective, so the blocking forms of these three run the same
//! algorithms directly on the engine: each step posts its receive, sends
//! (by the inline path when it can) and waits for both. Between two ranks
//! the bcast is also the best algorithm for large messages (one transfer,
//! straight between the callers' buffers, by single copy where the kernel
//! permits), and the direct path saves the copies into and out of a
//! schedule's buffers. The traffic is
//! exactly a schedule's: the communicator's collective context (`ctx + 1`),
//! a fresh sequence number in every tag, so these never match the messages
//! of a nonblocking collective in flight on the same communicator.
//! Every rank takes this path or none: the choice depends only on the
//! message size, the communicator size, the op's commutativity and the
//! `RMPI_COLL_<NAME>` override (set: the schedule runs, so every algorithm
//! can still be forced).

use rmpi_collectives::ReduceOp;
use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{ReqId, SendMode};

use crate::coll::coll_tag;
use crate::comm::{CommId, Group};
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::state::{block_on, with, Runtime};

/// Largest message (bytes) the direct path takes.
pub const FAST_MAX: usize = 2048;

/// Whether `RMPI_COLL_<name>` is set.
fn overridden(name: &'static str) -> bool {
    crate::coll::coll_env(name).is_some()
}

/// The communicator's collective context, group, rank, and a fresh sequence number.
fn begin(comm: CommId) -> MpiResult<(u32, Group, usize, u32)> {
    with(|rt| {
        let c = rt.tables.comm_mut(comm)?;
        let seq = c.next_seq(false);
        Ok((c.ctx + 1, c.group.clone(), c.rank as usize, seq))
    })
}

/// One step: receive from `from` into `into` and/or send `data` to `to`
/// (communicator ranks), then wait for both.
fn exchange(
    ctx: u32,
    group: &Group,
    me: usize,
    tag: i32,
    to: Option<(usize, &[u8])>,
    from: Option<(usize, &mut [u8])>,
) -> MpiResult<()> {
    let (rreq, sreq) = with(|rt: &mut Runtime| {
        let rreq = match from {
            Some((src, buf)) => {
                // SAFETY: `buf` outlives the wait below, which completes the
                // receive, and nothing else touches it meanwhile.
                let rb = if buf.is_empty() {
                    RecvBuf::empty()
                } else {
                    unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) }
                };
                Some(rt.net.recv(ctx, SrcSel::Rank(src as i32), TagSel::Tag(tag), rb))
            }
            None => None,
        };
        let sreq = match to {
            Some((dst, data)) => {
                let peer = group[dst];
                if rt.net.send_inline(peer, ctx, me as i32, tag, data, SendMode::Standard)? {
                    None
                } else {
                    // SAFETY: `data` outlives the wait below, which completes the send.
                    let sb = if data.is_empty() {
                        SendBuf::empty()
                    } else {
                        unsafe { SendBuf::new(data.as_ptr(), data.len()) }
                    };
                    Some(rt.net.send(peer, ctx, me as i32, tag, sb, SendMode::Standard)?)
                }
            }
            None => None,
        };
        Ok((rreq, sreq))
    })?;
    let engine_err = |e: rmpi_engine::EngineError| MpiError::new(ErrorClass::Intern, e.to_string());
    let mut pending: [Option<ReqId>; 2] = [rreq, sreq];
    block_on(|rt| {
        for slot in pending.iter_mut() {
            if let Some(rid) = *slot {
                match rt.net.engine.status(rid).map_err(engine_err)? {
                    None => return Ok(None),
                    Some(st) => {
                        let _ = rt.net.engine.free(rid);
                        *slot = None;
                        if st.truncated {
                            return err(ErrorClass::Truncate, "collective message truncated (mismatched counts?)");
                        }
                    }
                }
            }
        }
        Ok(Some(()))
    })
}

/// `MPI_Barrier` by dissemination. Returns false if the direct path does not apply.
pub fn barrier(comm: CommId) -> MpiResult<bool> {
    if overridden("BARRIER") {
        return Ok(false);
    }
    let (ctx, group, me, seq) = begin(comm)?;
    let n = group.len();
    let mut dist = 1;
    let mut step = 0;
    while dist < n {
        let tag = coll_tag(seq, step);
        exchange(ctx, &group, me, tag, Some(((me + dist) % n, &[])), Some(((me + n - dist) % n, &mut [])))?;
        dist *= 2;
        step += 1;
    }
    Ok(true)
}

/// `MPI_Allreduce` by recursive doubling: `recv` gets the result. Returns
/// false (nothing done) if the direct path does not apply.
pub fn allreduce(send: &[u8], recv: &mut [u8], op: &dyn ReduceOp, comm: CommId) -> MpiResult<bool> {
    if overridden("ALLREDUCE") || !op.commutative() {
        return Ok(false);
    }
    let n = with(|rt| Ok(rt.tables.comm(comm)?.group.len()))?;
    // Larger ones between two ranks are `bigcoll`'s (one exchange).
    if !n.is_power_of_two() || send.len() > FAST_MAX {
        return Ok(false);
    }
    let (ctx, group, me, seq) = begin(comm)?;
    recv.copy_from_slice(send);
    let mut small = [0u8; FAST_MAX];
    let tmp = &mut small[..send.len()];
    let mut mask = 1;
    let mut step = 0;
    while mask < n {
        let partner = me ^ mask;
        let tag = coll_tag(seq, step);
        exchange(ctx, &group, me, tag, Some((partner, &*recv)), Some((partner, &mut *tmp)))?;
        // Commutative: operand order does not matter.
        op.apply(tmp, recv);
        mask *= 2;
        step += 1;
    }
    Ok(true)
}

/// `MPI_Bcast` by a binomial tree rooted at `root`. Returns false if the
/// direct path does not apply.
pub fn bcast(buf: &mut [u8], root: usize, comm: CommId) -> MpiResult<bool> {
    if overridden("BCAST") {
        return Ok(false);
    }
    let (ctx, group, me, seq) = {
        let n = with(|rt| Ok(rt.tables.comm(comm)?.group.len()))?;
        if buf.len() > FAST_MAX && n != 2 {
            return Ok(false);
        }
        begin(comm)?
    };
    let n = group.len();
    let rel = (me + n - root) % n;
    // Receive from the parent (the rank that differs in the lowest set bit).
    let mut mask = 1;
    while mask < n {
        if rel & mask != 0 {
            let parent = (rel - mask + root) % n;
            exchange(ctx, &group, me, coll_tag(seq, 0), None, Some((parent, &mut *buf)))?;
            break;
        }
        mask *= 2;
    }
    // Send to the children below that bit.
    mask /= 2;
    while mask > 0 {
        if rel + mask < n {
            let child = (rel + mask + root) % n;
            exchange(ctx, &group, me, coll_tag(seq, 0), Some((child, &*buf)), None)?;
        }
        mask /= 2;
    }
    Ok(true)
}
