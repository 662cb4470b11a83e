//! Medium and large blocking collectives straight between the callers'
//! buffers: bcast and allreduce of at least [`BIG_MIN`] bytes on one node
//! (and allreduce between two ranks from `fastcoll`'s limit up), and
//! alltoall of any size.
//!
//! A schedule owns its buffers, so running one costs a copy of the input in,
//! a copy of the result out, and fresh (page-faulting) memory every call;
//! it also runs its steps as a dependency graph that an oversubscribed rank
//! advances only when it is scheduled. These forms post every transfer at
//! once, between the user's buffers, and wait for them together:
//!
//! * **bcast** (one node): the root sends to every rank directly. Over
//!   shared memory a large message is a rendezvous whose receiver reads the
//!   root's buffer itself (`process_vm_readv`), so all ranks copy in
//!   parallel, each from the root, with no store-and-forward chain; every
//!   byte is copied once per receiver, the least any algorithm can do.
//! * **allreduce** (one node, commutative operator): reduce-scatter then
//!   allgather, each rank owning one chunk of the vector. Each rank reads
//!   its chunk of every peer's input (in segments of [`SEG`] bytes, at most
//!   [`WINDOW`] outstanding, reduced into the user's receive buffer while
//!   still in cache), then reads every other chunk from its owner's receive
//!   buffer. Each rank moves 2 (p-1)/p of the vector and reduces (p-1)/p of
//!   it, in two steps of latency.
//! * **allreduce between two ranks** above `fastcoll`'s range (below
//!   [`BIG_MIN`] on one node, any size across nodes): one exchange of the
//!   whole vector, received straight into the result, the input reduced
//!   into it.
//! * **alltoall**: every receive straight into its block, every send from
//!   its block, all posted at once (no step-by-step exchange, so a peer that
//!   is descheduled holds up only its own blocks).
//!
//! The traffic uses the communicator's collective context and a fresh
//! blocking sequence number, as schedules and `fastcoll` do, so it never
//! matches a nonblocking collective's. Every rank takes this path or none:
//! the choice depends only on the communicator's size and node map, the
//! message size, the operator's commutativity, `RMPI_TRANSPORT` and the
//! `RMPI_COLL_<NAME>` override (set: the schedule runs, so every algorithm
//! can still be forced).

use std::collections::VecDeque;
use std::sync::OnceLock;

use rmpi_collectives::ReduceOp;
use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{ReqId, SendMode};
use rmpi_transports::shm::EAGER_LIMIT;

use crate::coll::coll_tag;
use crate::comm::{CommId, Group};
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::state::{block_on, with, Runtime};

/// Smallest bcast or allreduce (bytes) this path takes; smaller ones go to
/// `fastcoll` or a schedule.
pub const BIG_MIN: usize = 16 * 1024;
/// Largest bcast sent as eager pieces (see [`PIECES_RANKS`]).
pub const PIECES_MAX: usize = 64 * 1024;
/// Most ranks a bcast is sent to as eager pieces of [`EAGER_LIMIT`] bytes
/// (beyond, the root's copies into every queue would cost more than the
/// receivers' parallel single-copy reads).
pub const PIECES_RANKS: usize = 4;
/// Segment of an allreduce's reduce-scatter (bytes, rounded down to whole elements).
pub const SEG: usize = 128 * 1024;
/// Segments of the reduce-scatter outstanding at once.
pub const WINDOW: usize = 4;

/// Which collective, for its override.
#[derive(Clone, Copy)]
enum Which {
    Bcast,
    Allreduce,
    Alltoall,
}

/// Whether `RMPI_COLL_<NAME>` is set.
fn overridden(w: Which) -> bool {
    crate::coll::coll_env(match w {
        Which::Bcast => "BCAST",
        Which::Allreduce => "ALLREDUCE",
        Which::Alltoall => "ALLTOALL",
    })
    .is_some()
}

/// Whether `RMPI_TRANSPORT` routes this node's ranks through something
/// other than shared memory (the flat forms then stream from one rank).
fn transport_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var("RMPI_TRANSPORT").is_ok_and(|v| !v.is_empty() && v != "shm"))
}

/// The communicator's size and whether all its ranks share one node (and
/// shared memory links them): values equal on every rank.
fn shape(comm: CommId) -> MpiResult<(usize, bool)> {
    with(|rt| {
        let c = rt.tables.comm(comm)?;
        let nodes = &rt.net.world.node_of_rank;
        let first = c.group.first().map(|&w| nodes[w as usize]);
        let one = !transport_forced() && c.group.iter().all(|&w| Some(nodes[w as usize]) == first);
        Ok((c.group.len(), one))
    })
}

/// One collective's context, group, rank and sequence number.
struct Run {
    ctx: u32,
    group: Group,
    me: usize,
    seq: u32,
}

impl Run {
    /// Takes the communicator's next blocking sequence number.
    fn begin(comm: CommId) -> MpiResult<Run> {
        with(|rt| {
            let c = rt.tables.comm_mut(comm)?;
            let seq = c.next_seq(false);
            Ok(Run { ctx: c.ctx + 1, group: c.group.clone(), me: c.rank as usize, seq })
        })
    }

    /// Posts a receive of `len` bytes at `ptr` from rank `from`.
    fn recv(&self, rt: &mut Runtime, from: usize, step: u32, ptr: *mut u8, len: usize) -> ReqId {
        // SAFETY: the caller keeps the memory valid and untouched until the
        // request completes (every function here waits for its requests).
        let rb = if len == 0 { RecvBuf::empty() } else { unsafe { RecvBuf::new(ptr, len) } };
        rt.net.recv(self.ctx, SrcSel::Rank(from as i32), TagSel::Tag(coll_tag(self.seq, step)), rb)
    }

    /// Posts a send of `len` bytes at `ptr` to rank `to`; `None` when it went at once.
    fn send(&self, rt: &mut Runtime, to: usize, step: u32, ptr: *const u8, len: usize) -> MpiResult<Option<ReqId>> {
        let (peer, tag, src) = (self.group[to], coll_tag(self.seq, step), self.me as i32);
        if len <= 4096 {
            // SAFETY: the caller gives `len` readable bytes at `ptr`.
            let data = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(ptr, len) } };
            if rt.net.send_inline(peer, self.ctx, src, tag, data, SendMode::Standard)? {
                return Ok(None);
            }
        }
        // SAFETY: as for `recv`: the memory stays valid until the send completes.
        let sb = if len == 0 { SendBuf::empty() } else { unsafe { SendBuf::new(ptr, len) } };
        rt.net.send(peer, self.ctx, src, tag, sb, SendMode::Standard).map(Some)
    }
}

fn engine_err(e: rmpi_engine::EngineError) -> MpiError {
    MpiError::new(ErrorClass::Intern, e.to_string())
}

/// Whether `rid` completed (then it is freed); a truncated message is an error.
fn done(rt: &mut Runtime, rid: ReqId) -> MpiResult<bool> {
    match rt.net.engine.status(rid).map_err(engine_err)? {
        None => Ok(false),
        Some(st) => {
            let _ = rt.net.engine.free(rid);
            if st.truncated {
                return err(ErrorClass::Truncate, "collective message truncated (mismatched counts?)");
            }
            Ok(true)
        }
    }
}

/// Waits until every request in `reqs` has completed.
fn wait_all(mut reqs: Vec<ReqId>) -> MpiResult<()> {
    block_on(|rt| {
        let mut i = 0;
        while i < reqs.len() {
            if done(rt, reqs[i])? {
                reqs.swap_remove(i);
            } else {
                i += 1;
            }
        }
        Ok(reqs.is_empty().then_some(()))
    })
}

/// `MPI_Bcast` of `buf` (at least [`BIG_MIN`] bytes) from `root`, on one
/// node. Returns false (nothing done) if this path does not apply.
pub fn bcast(buf: &mut [u8], root: usize, comm: CommId) -> MpiResult<bool> {
    if buf.len() < BIG_MIN || overridden(Which::Bcast) {
        return Ok(false);
    }
    let (n, one_node) = shape(comm)?;
    if n < 2 || !one_node {
        return Ok(false);
    }
    let run = Run::begin(comm)?;
    let (ptr, len) = (buf.as_mut_ptr(), buf.len());
    // A medium message to few ranks goes as eager pieces: the root's sends
    // complete once the queues hold them, so it does not wait for each
    // receiver's single-copy read (a round trip per call).
    let piece = if len <= PIECES_MAX && n <= PIECES_RANKS { EAGER_LIMIT } else { len };
    let reqs = with(|rt| {
        let mut reqs = Vec::with_capacity(n * len.div_ceil(piece));
        for off in (0..len).step_by(piece) {
            let l = piece.min(len - off);
            // SAFETY: [off, off + l) lies inside `buf`.
            let at = unsafe { ptr.add(off) };
            if run.me == root {
                for d in 1..n {
                    reqs.extend(run.send(rt, (root + d) % n, 0, at, l)?);
                }
            } else {
                reqs.push(run.recv(rt, root, 0, at, l));
            }
        }
        Ok(reqs)
    })?;
    wait_all(reqs)?;
    Ok(true)
}

/// Element range `[lo, hi)` (in bytes) of chunk `k` of `elems` elements of
/// `esz` bytes split over `n` owners.
fn chunk(k: usize, n: usize, elems: usize, esz: usize) -> (usize, usize) {
    (k * elems / n * esz, (k + 1) * elems / n * esz)
}

thread_local! {
    /// The reduce-scatter's receive slots, kept between calls (fresh memory
    /// would cost a page fault per 4 KiB every time).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `MPI_Allreduce` of `len` bytes from `send` (`None`: in place, the input
/// is in `recv`) into `recv`, on one node, commutative operators only.
/// Returns false (nothing done) if this path does not apply.
pub fn allreduce(send: Option<&[u8]>, recv: &mut [u8], op: &dyn ReduceOp, comm: CommId) -> MpiResult<bool> {
    let len = recv.len();
    let esz = op.elem_size().max(1);
    if len <= crate::fastcoll::FAST_MAX || overridden(Which::Allreduce) || !op.commutative() || !len.is_multiple_of(esz)
    {
        return Ok(false);
    }
    if send.is_some_and(|s| s.len() != len) {
        return err(ErrorClass::Count, "send and receive buffers of an allreduce differ in size");
    }
    let (n, one_node) = shape(comm)?;
    // Two ranks: one exchange, unless they share a node and the vector is
    // large (the reduce-scatter then halves each rank's reduction work).
    if n == 2 && (len < BIG_MIN || !one_node) {
        return pair_allreduce(send, recv, op, comm).map(|_| true);
    }
    if len < BIG_MIN || n < 2 || !one_node {
        return Ok(false);
    }
    let run = Run::begin(comm)?;
    let me = run.me;
    let elems = len / esz;
    let rptr = recv.as_mut_ptr();
    let sptr: *const u8 = send.map_or(rptr as *const u8, <[u8]>::as_ptr);
    let (lo, hi) = chunk(me, n, elems, esz);
    let seg = (SEG / esz).max(1) * esz;

    // Reduce-scatter: every peer's chunk of my input goes to it, in segments.
    let sends = with(|rt| {
        let mut reqs = Vec::new();
        for d in 1..n {
            let j = (me + d) % n;
            let (jlo, jhi) = chunk(j, n, elems, esz);
            let mut off = jlo;
            while off < jhi {
                let l = seg.min(jhi - off);
                // SAFETY: [off, off + l) lies inside the input.
                reqs.extend(run.send(rt, j, 0, unsafe { sptr.add(off) }, l)?);
                off += l;
            }
        }
        Ok(reqs)
    })?;
    // ... and my chunk of every peer's input comes here, segment by segment,
    // each reduced into my chunk of `recv` as soon as it lands. Not in
    // place, the first peer's segments land in `recv` itself and my input
    // is reduced into them (the operator commutes), which saves copying my
    // chunk over first.
    let mut work = Vec::new();
    for d in 1..n {
        let j = (me + n - d) % n;
        let mut off = lo;
        while off < hi {
            let l = seg.min(hi - off);
            work.push(Seg { peer: j, off, len: l, direct: d == 1 && send.is_some() });
            off += l;
        }
    }
    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if scratch.len() < WINDOW * seg {
        scratch = vec![0; WINDOW * seg];
    }
    let result = reduce_scatter_in(&run, &work, &mut scratch, seg, send, recv, op);
    SCRATCH.with(|s| *s.borrow_mut() = scratch);
    result?;
    // A peer may still be reading my input (in place: `recv` itself).
    wait_all(sends)?;

    // Allgather: my reduced chunk to every peer, theirs straight into place.
    let reqs = with(|rt| {
        let mut reqs = Vec::with_capacity(2 * n);
        for d in 1..n {
            let j = (me + n - d) % n;
            let (jlo, jhi) = chunk(j, n, elems, esz);
            // SAFETY: [jlo, jhi) lies inside `recv`, which no other request touches.
            reqs.push(run.recv(rt, j, 1, unsafe { rptr.add(jlo) }, jhi - jlo));
        }
        for d in 1..n {
            let j = (me + d) % n;
            // SAFETY: my chunk of `recv`, only read from now on.
            reqs.extend(run.send(rt, j, 1, unsafe { rptr.add(lo) }, hi - lo)?);
        }
        Ok(reqs)
    })?;
    wait_all(reqs)?;
    Ok(true)
}

/// An allreduce between two ranks: one exchange of the whole vector,
/// straight into `recv` (in place: into scratch), then my input reduced
/// into it (the operator commutes, so both ranks get the same result).
fn pair_allreduce(send: Option<&[u8]>, recv: &mut [u8], op: &dyn ReduceOp, comm: CommId) -> MpiResult<()> {
    let run = Run::begin(comm)?;
    let peer = 1 - run.me;
    let len = recv.len();
    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if send.is_none() && scratch.len() < len {
        scratch = vec![0; len.max(WINDOW * SEG)];
    }
    let (sptr, into) = match send {
        Some(s) => (s.as_ptr(), recv.as_mut_ptr()),
        None => (recv.as_ptr(), scratch.as_mut_ptr()),
    };
    let result = with(|rt| {
        let mut reqs = vec![run.recv(rt, peer, 0, into, len)];
        reqs.extend(run.send(rt, peer, 0, sptr, len)?);
        Ok(reqs)
    })
    .and_then(wait_all);
    if result.is_ok() {
        match send {
            Some(s) => op.apply(s, recv),
            None => op.apply(&scratch[..len], recv),
        }
    }
    SCRATCH.with(|s| *s.borrow_mut() = scratch);
    result
}

/// One segment of an allreduce's reduce-scatter to receive and reduce.
struct Seg {
    /// The rank it comes from.
    peer: usize,
    /// Its place in the vector (bytes).
    off: usize,
    len: usize,
    /// Received straight into `recv` (then my input is reduced into it),
    /// rather than into a scratch slot reduced into `recv`.
    direct: bool,
}

/// Receives the segments of `work` (at most [`WINDOW`] outstanding, each
/// not `direct` in a slot of `scratch`) and reduces each, in order, into the
/// same bytes of `recv`.
fn reduce_scatter_in(
    run: &Run,
    work: &[Seg],
    scratch: &mut [u8],
    seg: usize,
    send: Option<&[u8]>,
    recv: &mut [u8],
    op: &dyn ReduceOp,
) -> MpiResult<()> {
    let sbase = scratch.as_mut_ptr();
    let rbase = recv.as_mut_ptr();
    // Outstanding receives, oldest first: (work index, request).
    let mut ring: VecDeque<(usize, ReqId)> = VecDeque::with_capacity(WINDOW);
    let mut next = 0;
    let post = |rt: &mut Runtime, ring: &mut VecDeque<(usize, ReqId)>, next: &mut usize| {
        while ring.len() < WINDOW && *next < work.len() {
            let w = &work[*next];
            // SAFETY: a direct segment's bytes of `recv` are touched by no
            // other request and by no reduction until this one completes;
            // slot `next % WINDOW` is free (its previous segment was
            // reduced) and lies inside `scratch`, which outlives the request.
            let at = unsafe {
                if w.direct {
                    rbase.add(w.off)
                } else {
                    sbase.add((*next % WINDOW) * seg)
                }
            };
            ring.push_back((*next, run.recv(rt, w.peer, 0, at, w.len)));
            *next += 1;
        }
    };
    with(|rt| {
        post(rt, &mut ring, &mut next);
        Ok(())
    })?;
    while !ring.is_empty() {
        block_on(|rt| {
            let mut moved = false;
            while let Some(&(i, rid)) = ring.front() {
                if !done(rt, rid)? {
                    break;
                }
                ring.pop_front();
                let w = &work[i];
                // SAFETY: the receive has completed; nothing else writes
                // these bytes until this reduction is done.
                let dst = unsafe { std::slice::from_raw_parts_mut(rbase.add(w.off), w.len) };
                let src = match (w.direct, send) {
                    (true, Some(s)) => &s[w.off..w.off + w.len],
                    // SAFETY: the slot's receive has completed, and the slot
                    // is not reused until after this reduction.
                    _ => unsafe { std::slice::from_raw_parts(sbase.add((i % WINDOW) * seg), w.len) },
                };
                op.apply(src, dst);
                moved = true;
            }
            if moved {
                post(rt, &mut ring, &mut next);
            }
            Ok(moved.then_some(()))
        })?;
    }
    Ok(())
}

/// `MPI_Alltoall` of blocks of `block` bytes: block `j` of `send` goes to
/// rank `j`, block `j` of `recv` comes from rank `j`. Not in place. Returns
/// false (nothing done) if this path does not apply.
pub fn alltoall(send: &[u8], recv: &mut [u8], block: usize, comm: CommId) -> MpiResult<bool> {
    if overridden(Which::Alltoall) {
        return Ok(false);
    }
    let (n, _) = shape(comm)?;
    if send.len() != n * block || recv.len() != n * block {
        return err(ErrorClass::Count, "alltoall buffers are not one block per rank");
    }
    let run = Run::begin(comm)?;
    let me = run.me;
    recv[me * block..(me + 1) * block].copy_from_slice(&send[me * block..(me + 1) * block]);
    if n < 2 || block == 0 {
        return Ok(true);
    }
    let (sptr, rptr) = (send.as_ptr(), recv.as_mut_ptr());
    let reqs = with(|rt| {
        let mut reqs = Vec::with_capacity(2 * n);
        for d in 1..n {
            let j = (me + n - d) % n;
            // SAFETY: block j of `recv`, touched by this request only.
            reqs.push(run.recv(rt, j, 0, unsafe { rptr.add(j * block) }, block));
        }
        for d in 1..n {
            let j = (me + d) % n;
            // SAFETY: block j of `send`.
            reqs.extend(run.send(rt, j, 0, unsafe { sptr.add(j * block) }, block)?);
        }
        Ok(reqs)
    })?;
    wait_all(reqs)?;
    Ok(true)
}
