//! One-sided communication (MPI RMA windows) over active messages.
//!
//! A window owns a private duplicate of its communicator, so its traffic
//! never meets the application's. An origin turns every operation into one
//! request message on that context (tag [`wire::TAG_REQ`]): header, the
//! target's byte blocks (the flattened target datatype, computed by the
//! caller), and the packed origin data. The target services requests inside
//! its progress step ([`progress`], called by every wait loop of the
//! runtime), in arrival order per origin, one request at a time under the
//! runtime's lock: so operations from one origin are ordered, and each
//! accumulate is atomic with respect to every other RMA operation.
//!
//! Operations that fetch (get, get-accumulate, fetch-and-op,
//! compare-and-swap) get their answer on a fresh reply tag, received
//! straight into the origin buffer when it is one block. Puts and
//! accumulates are completed remotely by a flush request the target answers
//! after everything before it (fence, flush, unlock all use it); locks are
//! requests the target grants by answering. PSCW is two more requests:
//! `Post` (target to origin) and `Complete` (origin to target).
//!
//! The runtime does not know datatypes or operators: callers give byte
//! blocks, and accumulate operators as two integers that the resolver
//! registered with [`set_acc_resolver`] turns into a [`ReduceOp`].

mod memory;
mod target;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use rmpi_collectives::{Collective, ReduceOp};
use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{ReqId, SendMode};

use crate::api::{self, PROC_NULL};
use crate::comm::{CommId, Group, GroupId};
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::net::Net;
use crate::state::{block_on, with, ReqBody, RequestId, Runtime};
use memory::Memory;
use wire::{Header, Kind, TAG_REQ};

/// Handle of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WinId(pub u32);

/// How a window's memory came to be (`MPI_WIN_FLAVOR_*`, same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Create = 1,
    Allocate = 2,
    Dynamic = 3,
    Shared = 4,
}

/// What an operation does at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Put,
    Get,
    /// `op` and `elem` name the operator and the target's element type for
    /// the accumulate resolver.
    Acc {
        op: i32,
        elem: i32,
    },
    /// Accumulate, answering the target's previous contents.
    GetAcc {
        op: i32,
        elem: i32,
    },
    /// Compare-and-swap of one element: `data` is the new value followed by
    /// the compare value; the answer is the previous value.
    Cas,
}

/// One RMA operation, as the caller flattened it.
#[derive(Debug, Clone)]
pub struct RmaOp {
    pub kind: OpKind,
    /// Packed origin data (put, accumulate, compare-and-swap).
    pub data: Vec<u8>,
    /// Where the answer goes (get, get-accumulate, CAS): `(address, length)`
    /// blocks filled in order.
    pub result: Vec<(usize, usize)>,
    /// Rank in the window's group, or `PROC_NULL`.
    pub target: i32,
    /// Displacement in the target's displacement units (an address for
    /// dynamic windows).
    pub disp: i64,
    /// Byte blocks at the target `(offset, length)`, relative to the
    /// displaced target address, in packed order.
    pub blocks: Vec<(i64, u64)>,
}

/// The local facts of a window.
#[derive(Debug, Clone, Copy)]
pub struct WinQuery {
    pub base: usize,
    pub size: usize,
    pub disp_unit: usize,
    pub flavor: Flavor,
    /// The window's private communicator (same group as the one it was created on).
    pub comm: CommId,
}

/// Turns an accumulate's `(op, elem)` into an operator on packed elements.
/// Called inside the progress step with the runtime locked: it must not call
/// back into MPI.
pub type AccResolver = fn(op: i32, elem: i32) -> Option<Arc<dyn ReduceOp>>;

static RESOLVER: OnceLock<AccResolver> = OnceLock::new();

/// Register the accumulate resolver (the first registration wins).
pub fn set_acc_resolver(f: AccResolver) {
    let _ = RESOLVER.set(f);
}

fn resolve(op: i32, elem: i32) -> Option<Arc<dyn ReduceOp>> {
    RESOLVER.get().and_then(|f| f(op, elem))
}

// ---------------------------------------------------------------- state

/// Another rank's part of the window.
#[derive(Debug, Clone, Copy)]
struct Peer {
    size: u64,
    disp_unit: u64,
    /// Its memory in this process (shared windows).
    shared_base: usize,
}

/// What an origin waits for.
enum Wait {
    /// A request on its way (its bytes live here until sent).
    Send { rid: ReqId, _buf: Vec<u8> },
    /// Fetched data: into `scatter` directly, or via `stage`.
    Recv { rid: ReqId, stage: Option<Vec<u8>>, scatter: Vec<(usize, usize)>, expect: usize },
    /// The answer to a lock, unlock or flush.
    Ack { rid: ReqId, buf: Box<[u8; 4]> },
}

struct Pending {
    target: i32,
    /// Request-based operation this belongs to (0: none).
    op: u64,
    what: Wait,
}

/// A lock at the target: holders and the queue.
#[derive(Default)]
struct TargetLock {
    exclusive: Option<i32>,
    shared: usize,
    /// (origin, exclusive, reply tag), in arrival order.
    waiting: VecDeque<(i32, bool, i32)>,
}

/// A received request waiting for its data or its turn.
struct Incoming {
    rid: ReqId,
    buf: Vec<u8>,
    src: i32,
}

/// One window on this rank.
pub(crate) struct Win {
    comm: CommId,
    ctx: u32,
    group: Group,
    rank: i32,
    flavor: Flavor,
    /// Owned memory (allocate, shared); kept alive with the window.
    _mem: Memory,
    base: usize,
    size: usize,
    disp_unit: usize,
    peers: Vec<Peer>,
    /// Attached regions `(address, length)` of a dynamic window.
    regions: Vec<(usize, usize)>,
    // target side
    incoming: VecDeque<Incoming>,
    replies: Vec<(ReqId, Vec<u8>)>,
    lock: TargetLock,
    completes: Vec<u32>,
    posts: Vec<u32>,
    /// Errors found in each origin's operations, reported at its next ack.
    errors: Vec<u32>,
    // origin side
    next_tag: i32,
    pending: Vec<Pending>,
    /// Puts or accumulates sent to the target since its last ack.
    dirty: Vec<bool>,
    fence_open: bool,
    access: Option<Vec<i32>>,
    exposure: Option<Vec<i32>>,
    /// Locks this origin holds: `Some(nocheck)`.
    locks: Vec<Option<bool>>,
    lock_all: Option<bool>,
    /// An error the targets reported, raised by the next synchronization.
    error: Option<MpiError>,
}

/// All windows of this process.
#[derive(Default)]
pub(crate) struct Rma {
    wins: Vec<Option<Win>>,
    live: usize,
    next_op: u64,
    /// Pending entries per request-based operation.
    ops: HashMap<u64, usize>,
}

impl Rma {
    /// Whether any window exists (the progress step skips RMA otherwise).
    pub fn active(&self) -> bool {
        self.live > 0
    }

    fn win_mut(&mut self, id: WinId) -> MpiResult<&mut Win> {
        match self.wins.get_mut(id.0 as usize) {
            Some(Some(w)) => Ok(w),
            _ => err(ErrorClass::Win, format!("invalid window handle {}", id.0)),
        }
    }

    fn win(&self, id: WinId) -> MpiResult<&Win> {
        match self.wins.get(id.0 as usize) {
            Some(Some(w)) => Ok(w),
            _ => err(ErrorClass::Win, format!("invalid window handle {}", id.0)),
        }
    }

    /// Whether a request-based operation is complete.
    pub fn op_done(&self, op: u64) -> bool {
        !self.ops.contains_key(&op)
    }

    fn insert(&mut self, w: Win) -> WinId {
        self.live += 1;
        match self.wins.iter().position(|s| s.is_none()) {
            Some(i) => {
                self.wins[i] = Some(w);
                WinId(i as u32)
            }
            None => {
                self.wins.push(Some(w));
                WinId(self.wins.len() as u32 - 1)
            }
        }
    }
}

fn intern(e: impl std::fmt::Display) -> MpiError {
    MpiError::new(ErrorClass::Intern, e.to_string())
}

impl Win {
    fn size_of_group(&self) -> i32 {
        self.group.len() as i32
    }

    fn check_rank(&self, r: i32) -> MpiResult<()> {
        if (0..self.size_of_group()).contains(&r) {
            Ok(())
        } else {
            err(ErrorClass::Rank, format!("invalid rank {r} (window of {} processes)", self.size_of_group()))
        }
    }

    fn take_tag(&mut self) -> i32 {
        let t = self.next_tag;
        self.next_tag = if t == i32::MAX { 1 } else { t + 1 };
        t
    }

    /// May this origin access `target` now?
    fn check_epoch(&self, target: i32) -> MpiResult<()> {
        let ok = self.fence_open
            || self.lock_all.is_some()
            || self.locks[target as usize].is_some()
            || self.access.as_ref().is_some_and(|g| g.contains(&target));
        if ok {
            Ok(())
        } else {
            err(ErrorClass::RmaSync, format!("no access epoch is open to rank {target} (fence, start or lock first)"))
        }
    }

    /// Send a request to `target`.
    fn send(&mut self, net: &mut Net, target: i32, op: u64, bytes: Vec<u8>) -> MpiResult<()> {
        let peer = self.group[target as usize];
        // SAFETY: `bytes` is kept in the pending entry until the send completes.
        let sbuf = unsafe { SendBuf::new(bytes.as_ptr(), bytes.len()) };
        let rid = net.send(peer, self.ctx, self.rank, TAG_REQ, sbuf, SendMode::Standard)?;
        self.pending.push(Pending { target, op, what: Wait::Send { rid, _buf: bytes } });
        Ok(())
    }

    /// Post the receive of an acknowledgement from `target` on `tag`.
    fn expect_ack(&mut self, net: &mut Net, target: i32, tag: i32) {
        let mut buf = Box::new([0u8; 4]);
        // SAFETY: the box lives in the pending entry until the receive completes.
        let rbuf = unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) };
        let rid = net.recv(self.ctx, SrcSel::Rank(target), TagSel::Tag(tag), rbuf);
        self.pending.push(Pending { target, op: 0, what: Wait::Ack { rid, buf } });
    }

    /// Send a control request that `target` answers; the answer becomes pending.
    fn control(&mut self, net: &mut Net, target: i32, kind: Kind, flags: u8) -> MpiResult<()> {
        let tag = self.take_tag();
        self.expect_ack(net, target, tag);
        let h = Header { flags, reply: tag, ..Header::new(kind) };
        self.send(net, target, 0, wire::encode(&h, &[], &[]))
    }

    /// Ask every target in `targets` that has unacknowledged puts or
    /// accumulates to confirm them.
    fn flush_requests(&mut self, net: &mut Net, targets: &[i32]) -> MpiResult<()> {
        for &t in targets {
            if std::mem::take(&mut self.dirty[t as usize]) {
                self.control(net, t, Kind::Flush, 0)?;
            }
        }
        Ok(())
    }

    fn idle_towards(&self, targets: Option<&[i32]>) -> bool {
        match targets {
            None => self.pending.is_empty(),
            Some(ts) => !self.pending.iter().any(|p| ts.contains(&p.target)),
        }
    }

    fn all_ranks(&self) -> Vec<i32> {
        (0..self.size_of_group()).collect()
    }

    /// Collect finished origin-side waits. Returns whether any finished.
    fn reap(&mut self, net: &mut Net, ops: &mut HashMap<u64, usize>) -> MpiResult<bool> {
        let mut moved = false;
        let mut i = 0;
        while i < self.pending.len() {
            let rid = match &self.pending[i].what {
                Wait::Send { rid, .. } | Wait::Recv { rid, .. } | Wait::Ack { rid, .. } => *rid,
            };
            let Some(st) = net.engine.status(rid).map_err(intern)? else {
                i += 1;
                continue;
            };
            let p = self.pending.swap_remove(i);
            let _ = net.engine.free(rid);
            moved = true;
            match p.what {
                Wait::Send { .. } => {}
                Wait::Recv { stage, scatter, expect, .. } => {
                    if st.count < expect || st.truncated {
                        self.error.get_or_insert(MpiError::new(
                            ErrorClass::RmaRange,
                            format!("rank {} rejected an access outside its window", p.target),
                        ));
                    }
                    if let Some(stage) = stage {
                        target::scatter_into(&scatter, &stage[..st.count.min(stage.len())]);
                    }
                }
                Wait::Ack { buf, .. } => {
                    let n = wire::decode_ack(&buf[..]);
                    if n > 0 {
                        self.error.get_or_insert(MpiError::new(
                            ErrorClass::RmaRange,
                            format!("rank {} rejected {n} access(es) outside its window", p.target),
                        ));
                    }
                }
            }
            if p.op != 0 {
                if let Some(c) = ops.get_mut(&p.op) {
                    *c -= 1;
                    if *c == 0 {
                        ops.remove(&p.op);
                    }
                }
            }
        }
        Ok(moved)
    }

    fn take_error(&mut self) -> MpiResult<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The RMA part of the progress step: service requests addressed to this
/// rank and collect answers to its own.
pub(crate) fn progress(net: &mut Net, rma: &mut Rma) -> MpiResult<bool> {
    let mut moved = false;
    let Rma { wins, ops, .. } = rma;
    for w in wins.iter_mut().flatten() {
        moved |= target::service(net, w)?;
        moved |= w.reap(net, ops)?;
    }
    Ok(moved)
}

fn parts(rt: &mut Runtime, id: WinId) -> MpiResult<(&mut Net, &mut Win)> {
    let Runtime { net, rma, .. } = rt;
    Ok((net, rma.win_mut(id)?))
}

// ---------------------------------------------------------------- creation

fn check_disp_unit(u: i64) -> MpiResult<usize> {
    if u <= 0 {
        return err(ErrorClass::Arg, format!("invalid displacement unit {u}"));
    }
    Ok(u as usize)
}

fn check_size(s: i64) -> MpiResult<usize> {
    if s < 0 {
        return err(ErrorClass::Size, format!("invalid window size {s}"));
    }
    Ok(s as usize)
}

/// Everything but the memory, agreed collectively over `comm`.
fn build(comm: CommId, flavor: Flavor, size: usize, disp_unit: usize) -> MpiResult<(Win, CommId)> {
    let wcomm = api::comm_dup(comm)?;
    let mut mine = (size as u64).to_le_bytes().to_vec();
    mine.extend_from_slice(&(disp_unit as u64).to_le_bytes());
    let all = match api::coll_blocking(wcomm, |r, n| Collective::allgather(r, n, mine, false)) {
        Ok(v) => v,
        Err(e) => {
            let _ = api::comm_free(wcomm);
            return Err(e);
        }
    };
    let peers: Vec<Peer> = all
        .chunks_exact(16)
        .map(|c| Peer {
            size: u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
            disp_unit: u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
            shared_base: 0,
        })
        .collect();
    with(|rt| {
        let c = rt.tables.comm(wcomm)?;
        let n = c.group.len();
        Ok((
            Win {
                comm: wcomm,
                ctx: c.ctx,
                group: c.group.clone(),
                rank: c.rank,
                flavor,
                _mem: Memory::None,
                base: 0,
                size,
                disp_unit,
                peers,
                regions: Vec::new(),
                incoming: VecDeque::new(),
                replies: Vec::new(),
                lock: TargetLock::default(),
                completes: vec![0; n],
                posts: vec![0; n],
                errors: vec![0; n],
                next_tag: 1,
                pending: Vec::new(),
                dirty: vec![false; n],
                fence_open: false,
                access: None,
                exposure: None,
                locks: vec![None; n],
                lock_all: None,
                error: None,
            },
            wcomm,
        ))
    })
}

fn register(w: Win) -> MpiResult<WinId> {
    with(|rt| Ok(rt.rma.insert(w)))
}

/// `MPI_Win_create` over the caller's memory `base..base+size`.
///
/// # Safety
/// The memory must stay valid until the window is freed; remote processes
/// read and write it during RMA epochs (MPI's contract).
pub unsafe fn win_create(comm: CommId, base: *mut u8, size: i64, disp_unit: i64) -> MpiResult<WinId> {
    let size = check_size(size)?;
    let disp_unit = check_disp_unit(disp_unit)?;
    api::comm_size(comm)?;
    let (mut w, _) = build(comm, Flavor::Create, size, disp_unit)?;
    w.base = base as usize;
    register(w)
}

/// `MPI_Win_allocate`: the window's memory comes from the library (zeroed).
pub fn win_allocate(comm: CommId, size: i64, disp_unit: i64) -> MpiResult<(WinId, *mut u8)> {
    let size = check_size(size)?;
    let disp_unit = check_disp_unit(disp_unit)?;
    api::comm_size(comm)?;
    let mem = Memory::heap(size)?;
    let (mut w, _) = build(comm, Flavor::Allocate, size, disp_unit)?;
    w.base = mem.base();
    w._mem = mem;
    let base = w.base as *mut u8;
    Ok((register(w)?, base))
}

/// `MPI_Win_create_dynamic`: no memory until `win_attach`.
pub fn win_create_dynamic(comm: CommId) -> MpiResult<WinId> {
    api::comm_size(comm)?;
    let (w, _) = build(comm, Flavor::Dynamic, 0, 1)?;
    register(w)
}

/// `MPI_Win_allocate_shared`: every rank's part lies in one segment that
/// all ranks map (they must share a node), contiguous in rank order.
pub fn win_allocate_shared(comm: CommId, size: i64, disp_unit: i64) -> MpiResult<(WinId, *mut u8)> {
    let size = check_size(size)?;
    let disp_unit = check_disp_unit(disp_unit)?;
    api::comm_size(comm)?;
    let same_node = with(|rt| {
        let g = rt.tables.comm(comm)?.group.clone();
        let nodes = &rt.net.world.node_of_rank;
        Ok(g.iter().all(|&r| nodes[r as usize] == nodes[g[0] as usize]))
    })?;
    if !same_node {
        return err(ErrorClass::RmaShared, "the communicator spans more than one node: memory cannot be shared");
    }
    let (mut w, wcomm) = build(comm, Flavor::Shared, size, disp_unit)?;
    let total: u64 = w.peers.iter().map(|p| p.size).sum();
    let mut offsets = Vec::with_capacity(w.peers.len());
    let mut at = 0usize;
    for p in &w.peers {
        offsets.push(at);
        at += p.size as usize;
    }
    let mem = if w.peers.len() == 1 {
        Memory::heap(total as usize)
    } else if total == 0 {
        Ok(Memory::None)
    } else {
        let (jobid, creator, ctx) = with(|rt| Ok((rt.net.world.jobid.clone(), w.group[0], w.ctx)))?;
        let job: String = jobid.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let name = format!("rmpi-win-{job}-{creator}-{ctx}");
        let made = if w.rank == 0 { Some(memory::map_segment(&name, total as usize, true)) } else { None };
        api::barrier(wcomm)?;
        let mapped = match made {
            Some(m) => m,
            None => memory::map_segment(&name, total as usize, false),
        };
        api::barrier(wcomm)?;
        if w.rank == 0 {
            let _ = std::fs::remove_file(memory::segment_path(&name));
        }
        mapped
    };
    let mem = match mem {
        Ok(m) => m,
        Err(e) => {
            let _ = api::comm_free(wcomm);
            return Err(e);
        }
    };
    let seg = mem.base();
    if seg != 0 {
        for (p, off) in w.peers.iter_mut().zip(&offsets) {
            p.shared_base = seg + off;
        }
    }
    w.base = if size == 0 { 0 } else { seg + offsets[w.rank as usize] };
    w._mem = mem;
    let base = w.base as *mut u8;
    Ok((register(w)?, base))
}

/// `MPI_Win_shared_query`: `(base, size, disp_unit)` of `rank`'s part in
/// this process (`PROC_NULL`: the lowest rank with a nonzero size). Windows
/// that are not shared answer size 0 and a null base.
pub fn shared_query(id: WinId, rank: i32) -> MpiResult<(usize, u64, u64)> {
    with(|rt| {
        let w = rt.rma.win(id)?;
        let r = if rank == PROC_NULL {
            w.peers.iter().position(|p| p.size > 0).unwrap_or(0) as i32
        } else {
            w.check_rank(rank)?;
            rank
        };
        let p = w.peers[r as usize];
        if w.flavor != Flavor::Shared {
            return Ok((0, 0, p.disp_unit));
        }
        let base = if p.size == 0 { 0 } else { p.shared_base };
        Ok((base, p.size, p.disp_unit))
    })
}

/// `MPI_Win_attach`.
///
/// # Safety
/// The memory must stay valid until detached (MPI's contract).
pub unsafe fn win_attach(id: WinId, base: *mut u8, size: i64) -> MpiResult<()> {
    let size = check_size(size)?;
    with(|rt| {
        let w = rt.rma.win_mut(id)?;
        if w.flavor != Flavor::Dynamic {
            return err(ErrorClass::RmaFlavor, "MPI_Win_attach needs a window made by MPI_Win_create_dynamic");
        }
        let a = base as usize;
        if w.regions.iter().any(|&(b, n)| a < b + n && b < a + size) {
            return err(ErrorClass::RmaAttach, "the memory overlaps memory already attached");
        }
        w.regions.push((a, size));
        Ok(())
    })
}

/// `MPI_Win_detach`.
pub fn win_detach(id: WinId, base: *const u8) -> MpiResult<()> {
    with(|rt| {
        let w = rt.rma.win_mut(id)?;
        if w.flavor != Flavor::Dynamic {
            return err(ErrorClass::RmaFlavor, "MPI_Win_detach needs a window made by MPI_Win_create_dynamic");
        }
        match w.regions.iter().position(|&(b, _)| b == base as usize) {
            Some(i) => {
                w.regions.remove(i);
                Ok(())
            }
            None => err(ErrorClass::RmaAttach, format!("no memory attached at {base:p}")),
        }
    })
}

/// The local facts of a window.
pub fn win_query(id: WinId) -> MpiResult<WinQuery> {
    with(|rt| {
        let w = rt.rma.win(id)?;
        Ok(WinQuery { base: w.base, size: w.size, disp_unit: w.disp_unit, flavor: w.flavor, comm: w.comm })
    })
}

/// `MPI_Win_free` (collective): completes this rank's operations, waits
/// until no rank targets this one any more, then releases everything.
pub fn win_free(id: WinId) -> MpiResult<()> {
    let comm = with(|rt| {
        let (net, w) = parts(rt, id)?;
        if w.locks.iter().any(|l| l.is_some()) || w.lock_all.is_some() {
            return err(ErrorClass::RmaSync, "the window is still locked");
        }
        if w.access.is_some() || w.exposure.is_some() {
            return err(ErrorClass::RmaSync, "a post/start epoch of the window is still open");
        }
        let all = w.all_ranks();
        w.flush_requests(net, &all)?;
        Ok(w.comm)
    })?;
    block_on(|rt| Ok(rt.rma.win(id)?.pending.is_empty().then_some(())))?;
    api::barrier(comm)?;
    block_on(|rt| {
        let w = rt.rma.win(id)?;
        Ok((w.incoming.is_empty() && w.replies.is_empty()).then_some(()))
    })?;
    with(|rt| {
        let w = rt.rma.wins[id.0 as usize].take().expect("checked above");
        rt.rma.live -= 1;
        rt.tables.free_comm(w.comm)
    })
}

// ---------------------------------------------------------------- operations

/// Start one RMA operation. With `request`, returns a request that
/// completes when the operation has completed locally (the origin buffer
/// may be reused; fetched data has arrived).
pub fn rma_op(id: WinId, op: RmaOp, request: bool) -> MpiResult<Option<RequestId>> {
    with(|rt| {
        let Runtime { net, rma, reqs, .. } = rt;
        let opid = if request {
            rma.next_op += 1;
            rma.next_op
        } else {
            0
        };
        let w = rma.win_mut(id)?;
        if op.target == PROC_NULL {
            return Ok(request.then(|| reqs.insert(ReqBody::Done(Default::default()))));
        }
        w.check_rank(op.target)?;
        w.check_epoch(op.target)?;
        let t = op.target as usize;
        let total: u64 = op.blocks.iter().map(|b| b.1).sum();
        // Byte displacement at the target, checked against its size.
        let disp = if w.flavor == Flavor::Dynamic {
            op.disp
        } else {
            let d = op
                .disp
                .checked_mul(w.peers[t].disp_unit as i64)
                .ok_or_else(|| MpiError::new(ErrorClass::RmaRange, "target displacement overflows"))?;
            for &(off, len) in &op.blocks {
                let lo = d.checked_add(off);
                let hi = lo.and_then(|lo| lo.checked_add(len as i64));
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo >= 0 && hi as u64 <= w.peers[t].size => {}
                    _ => {
                        return err(
                            ErrorClass::RmaRange,
                            format!(
                                "access of bytes {}..{} is outside the {} bytes of rank {}'s window",
                                d.saturating_add(off),
                                d.saturating_add(off).saturating_add(len as i64),
                                w.peers[t].size,
                                op.target
                            ),
                        );
                    }
                }
            }
            d
        };
        let (kind, aop, elem) = match op.kind {
            OpKind::Put => (Kind::Put, 0, 0),
            OpKind::Get => (Kind::Get, 0, 0),
            OpKind::Acc { op, elem } => (Kind::Acc, op, elem),
            OpKind::GetAcc { op, elem } => (Kind::GetAcc, op, elem),
            OpKind::Cas => (Kind::Cas, 0, 0),
        };
        match kind {
            Kind::Put | Kind::Acc if op.data.len() as u64 != total => {
                return err(
                    ErrorClass::Arg,
                    format!("origin data ({} bytes) and target ({} bytes) do not match", op.data.len(), total),
                );
            }
            Kind::Cas if op.data.len() as u64 != 2 * total => {
                return err(ErrorClass::Arg, "compare-and-swap needs one element of origin and compare data");
            }
            Kind::GetAcc if !op.data.is_empty() && op.data.len() as u64 != total => {
                return err(
                    ErrorClass::Arg,
                    format!("origin data ({} bytes) and target ({} bytes) do not match", op.data.len(), total),
                );
            }
            _ => {}
        }
        if matches!(kind, Kind::Acc | Kind::GetAcc) && total > 0 && resolve(aop, elem).is_none() {
            return err(ErrorClass::Op, "operator not allowed in an accumulate on this datatype");
        }
        let fetch = matches!(kind, Kind::Get | Kind::GetAcc | Kind::Cas);
        if fetch {
            let rlen: usize = op.result.iter().map(|b| b.1).sum();
            if rlen as u64 != total {
                return err(
                    ErrorClass::Arg,
                    format!("result buffer ({rlen} bytes) and target ({total} bytes) do not match"),
                );
            }
        }
        let mut h = Header { op: aop, elem, disp, ..Header::new(kind) };
        let mut entries = 0;
        if fetch {
            h.reply = w.take_tag();
            let expect = total as usize;
            let (rbuf, stage, scatter) = if op.result.len() == 1 {
                // SAFETY: the caller's result block stays valid until the operation completes (MPI's contract).
                (unsafe { RecvBuf::new(op.result[0].0 as *mut u8, op.result[0].1) }, None, Vec::new())
            } else if expect == 0 {
                (RecvBuf::empty(), None, Vec::new())
            } else {
                let mut stage = vec![0u8; expect];
                // SAFETY: the stage lives in the pending entry until the receive completes.
                let rbuf = unsafe { RecvBuf::new(stage.as_mut_ptr(), expect) };
                (rbuf, Some(stage), op.result.clone())
            };
            let rid = net.recv(w.ctx, SrcSel::Rank(op.target), TagSel::Tag(h.reply), rbuf);
            w.pending.push(Pending { target: op.target, op: opid, what: Wait::Recv { rid, stage, scatter, expect } });
            entries += 1;
        } else {
            w.dirty[t] = true;
        }
        let bytes = wire::encode(&h, &op.blocks, &op.data);
        w.send(net, op.target, opid, bytes)?;
        entries += 1;
        if !request {
            return Ok(None);
        }
        *rma.ops.entry(opid).or_default() += entries;
        Ok(Some(reqs.insert(ReqBody::Rma(opid))))
    })
}

// ---------------------------------------------------------------- synchronization

/// Block until nothing is pending towards `targets` (all when `None`),
/// then raise any error the targets reported.
fn wait_idle(id: WinId, targets: Option<Vec<i32>>) -> MpiResult<()> {
    block_on(|rt| Ok(rt.rma.win(id)?.idle_towards(targets.as_deref()).then_some(())))?;
    with(|rt| rt.rma.win_mut(id)?.take_error())
}

/// `MPI_Win_fence`. `nosucceed`: no epoch follows.
pub fn fence(id: WinId, nosucceed: bool) -> MpiResult<()> {
    let comm = with(|rt| {
        let (net, w) = parts(rt, id)?;
        if w.locks.iter().any(|l| l.is_some()) || w.lock_all.is_some() || w.access.is_some() || w.exposure.is_some() {
            return err(ErrorClass::RmaSync, "MPI_Win_fence inside a lock or post/start epoch");
        }
        let all = w.all_ranks();
        w.flush_requests(net, &all)?;
        Ok(w.comm)
    })?;
    wait_idle(id, None)?;
    api::barrier(comm)?;
    with(|rt| {
        rt.rma.win_mut(id)?.fence_open = !nosucceed;
        Ok(())
    })
}

/// `MPI_Win_flush` / `MPI_Win_flush_all` (`target` None), or with `local`
/// the `_local` forms (operations complete at the origin only).
pub fn flush(id: WinId, target: Option<i32>, local: bool) -> MpiResult<()> {
    let targets = with(|rt| {
        let (net, w) = parts(rt, id)?;
        let ts = match target {
            Some(t) => {
                w.check_rank(t)?;
                if w.locks[t as usize].is_none() && w.lock_all.is_none() {
                    return err(ErrorClass::RmaSync, format!("rank {t} is not locked"));
                }
                vec![t]
            }
            None => {
                if w.lock_all.is_none() && w.locks.iter().all(|l| l.is_none()) {
                    return err(ErrorClass::RmaSync, "no rank is locked");
                }
                w.all_ranks()
            }
        };
        if !local {
            w.flush_requests(net, &ts)?;
        }
        Ok(ts)
    })?;
    wait_idle(id, Some(targets))
}

/// `MPI_Win_lock`.
pub fn lock(id: WinId, exclusive: bool, target: i32, nocheck: bool) -> MpiResult<()> {
    with(|rt| {
        let (net, w) = parts(rt, id)?;
        w.check_rank(target)?;
        if w.locks[target as usize].is_some() || w.lock_all.is_some() {
            return err(ErrorClass::RmaSync, format!("rank {target} is already locked"));
        }
        if w.access.is_some() {
            return err(ErrorClass::RmaSync, "MPI_Win_lock inside a start/complete epoch");
        }
        w.locks[target as usize] = Some(nocheck);
        if !nocheck {
            w.control(net, target, Kind::Lock, if exclusive { wire::FLAG_EXCLUSIVE } else { 0 })?;
        }
        Ok(())
    })?;
    wait_idle(id, Some(vec![target]))
}

/// `MPI_Win_unlock`: every operation to `target` completes there.
pub fn unlock(id: WinId, target: i32) -> MpiResult<()> {
    with(|rt| {
        let (net, w) = parts(rt, id)?;
        w.check_rank(target)?;
        let Some(nocheck) = w.locks[target as usize] else {
            return err(ErrorClass::RmaSync, format!("rank {target} is not locked"));
        };
        w.dirty[target as usize] = false;
        w.control(net, target, Kind::Unlock, if nocheck { wire::FLAG_NOCHECK } else { 0 })?;
        w.locks[target as usize] = None;
        Ok(())
    })?;
    wait_idle(id, Some(vec![target]))
}

/// `MPI_Win_lock_all`: a shared lock on every rank.
pub fn lock_all(id: WinId, nocheck: bool) -> MpiResult<()> {
    with(|rt| {
        let (net, w) = parts(rt, id)?;
        if w.lock_all.is_some() || w.locks.iter().any(|l| l.is_some()) {
            return err(ErrorClass::RmaSync, "the window is already locked");
        }
        if w.access.is_some() {
            return err(ErrorClass::RmaSync, "MPI_Win_lock_all inside a start/complete epoch");
        }
        w.lock_all = Some(nocheck);
        if !nocheck {
            for t in w.all_ranks() {
                w.control(net, t, Kind::Lock, 0)?;
            }
        }
        Ok(())
    })?;
    wait_idle(id, None)
}

/// `MPI_Win_unlock_all`.
pub fn unlock_all(id: WinId) -> MpiResult<()> {
    with(|rt| {
        let (net, w) = parts(rt, id)?;
        let Some(nocheck) = w.lock_all else {
            return err(ErrorClass::RmaSync, "the window is not locked with MPI_Win_lock_all");
        };
        for t in w.all_ranks() {
            w.dirty[t as usize] = false;
            w.control(net, t, Kind::Unlock, if nocheck { wire::FLAG_NOCHECK } else { 0 })?;
        }
        w.lock_all = None;
        Ok(())
    })?;
    wait_idle(id, None)
}

/// Ranks of the window's group that `g` names.
fn ranks_in(rt: &Runtime, w: &Win, g: GroupId) -> MpiResult<Vec<i32>> {
    let grp = rt.tables.group(g)?;
    grp.iter()
        .map(|m| {
            w.group
                .iter()
                .position(|x| x == m)
                .map(|p| p as i32)
                .ok_or_else(|| MpiError::new(ErrorClass::Group, "the group has a process outside the window"))
        })
        .collect()
}

/// `MPI_Win_post`: expose the window to the origins in `g`.
pub fn post(id: WinId, g: GroupId) -> MpiResult<()> {
    with(|rt| {
        let ranks = ranks_in(rt, rt.rma.win(id)?, g)?;
        let (net, w) = parts(rt, id)?;
        if w.exposure.is_some() {
            return err(ErrorClass::RmaSync, "the window is already exposed (MPI_Win_post twice)");
        }
        for &o in &ranks {
            w.send(net, o, 0, wire::encode(&Header::new(Kind::Post), &[], &[]))?;
        }
        w.exposure = Some(ranks);
        Ok(())
    })
}

/// `MPI_Win_start`: open an access epoch to the targets in `g` (waits for
/// their posts).
pub fn start(id: WinId, g: GroupId) -> MpiResult<()> {
    let ranks = with(|rt| {
        let ranks = ranks_in(rt, rt.rma.win(id)?, g)?;
        let w = rt.rma.win_mut(id)?;
        if w.access.is_some() {
            return err(ErrorClass::RmaSync, "an access epoch is already open (MPI_Win_start twice)");
        }
        if w.lock_all.is_some() || w.locks.iter().any(|l| l.is_some()) {
            return err(ErrorClass::RmaSync, "MPI_Win_start while the window is locked");
        }
        Ok(ranks)
    })?;
    block_on(|rt| {
        let w = rt.rma.win_mut(id)?;
        if ranks.iter().all(|&t| w.posts[t as usize] > 0) {
            for &t in &ranks {
                w.posts[t as usize] -= 1;
            }
            return Ok(Some(()));
        }
        Ok(None)
    })?;
    with(|rt| {
        rt.rma.win_mut(id)?.access = Some(ranks);
        Ok(())
    })
}

/// `MPI_Win_complete`: end the access epoch.
pub fn complete(id: WinId) -> MpiResult<()> {
    let ranks = with(|rt| {
        let (net, w) = parts(rt, id)?;
        let Some(ranks) = w.access.take() else {
            return err(ErrorClass::RmaSync, "MPI_Win_complete without MPI_Win_start");
        };
        for &t in &ranks {
            w.dirty[t as usize] = false;
            w.send(net, t, 0, wire::encode(&Header::new(Kind::Complete), &[], &[]))?;
        }
        Ok(ranks)
    })?;
    wait_idle(id, Some(ranks))
}

fn exposure_done(rt: &mut Runtime, id: WinId) -> MpiResult<bool> {
    let w = rt.rma.win_mut(id)?;
    let Some(ranks) = &w.exposure else {
        return err(ErrorClass::RmaSync, "MPI_Win_wait/test without MPI_Win_post");
    };
    if !ranks.iter().all(|&o| w.completes[o as usize] > 0) {
        return Ok(false);
    }
    for &o in ranks {
        w.completes[o as usize] -= 1;
    }
    w.exposure = None;
    Ok(true)
}

/// `MPI_Win_wait`: end the exposure epoch once every origin completed.
pub fn wait(id: WinId) -> MpiResult<()> {
    with(|rt| match rt.rma.win(id)?.exposure {
        Some(_) => Ok(()),
        None => err(ErrorClass::RmaSync, "MPI_Win_wait without MPI_Win_post"),
    })?;
    block_on(|rt| Ok(exposure_done(rt, id)?.then_some(())))
}

/// `MPI_Win_test`: `MPI_Win_wait` without blocking.
pub fn test(id: WinId) -> MpiResult<bool> {
    with(|rt| {
        rt.progress()?;
        exposure_done(rt, id)
    })
}

/// `MPI_Win_sync`: order this process's memory accesses (a full fence;
/// the window memory is the same memory for local and remote accesses).
pub fn sync(id: WinId) -> MpiResult<()> {
    with(|rt| rt.rma.win(id).map(|_| ()))?;
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    Ok(())
}
