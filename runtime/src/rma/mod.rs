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

mod create;
mod memory;
mod origin;
mod sync;
mod target;
mod wire;

pub use create::{
    shared_query, win_allocate, win_allocate_shared, win_attach, win_create, win_create_dynamic, win_detach, win_free,
    win_query,
};
pub use origin::rma_op;
pub use sync::{complete, fence, flush, lock, lock_all, post, start, sync, test, unlock, unlock_all, wait};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use rmpi_collectives::ReduceOp;
use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{ReqId, SendMode};

use crate::comm::{CommId, Group};
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::net::Net;
use crate::state::Runtime;
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
    /// Instead of `data`, a put's origin data lies at `(address, length)`
    /// (one block of the caller's memory, valid until the put completes
    /// locally): large puts are then sent from there without a copy.
    pub data_at: Option<(usize, usize)>,
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

/// A receive the target works through in order.
enum Incoming {
    /// A request.
    Req { rid: ReqId, buf: Vec<u8>, src: i32 },
    /// The data of a put sent apart from its header: straight into the
    /// window (`stage` None), or staged for `ranges`; or, when its origin
    /// waits for a lock, staged and then held back as the whole request
    /// `header` + data.
    Data { rid: ReqId, src: i32, stage: Option<Vec<u8>>, ranges: Option<Vec<(usize, usize)>>, header: Option<Vec<u8>> },
}

impl Incoming {
    fn rid(&self) -> ReqId {
        match self {
            Incoming::Req { rid, .. } | Incoming::Data { rid, .. } => *rid,
        }
    }
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
    /// Requests held back per origin while it waits for the lock.
    parked: Vec<Option<VecDeque<Vec<u8>>>>,
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
    /// Targets of the access epoch whose post has not arrived yet.
    unposted: Vec<i32>,
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
        self.next_tag = if t == i32::MAX { wire::FIRST_REPLY_TAG } else { t + 1 };
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
        // SAFETY: `bytes` is kept in the pending entry until the send completes.
        let sbuf = unsafe { SendBuf::new(bytes.as_ptr(), bytes.len()) };
        self.send_buf(net, target, op, TAG_REQ, sbuf, bytes)
    }

    /// Send `sbuf` to `target` on `tag`; `keep` (the bytes behind `sbuf`
    /// when they are the library's) lives until the send completes.
    fn send_buf(
        &mut self,
        net: &mut Net,
        target: i32,
        op: u64,
        tag: i32,
        sbuf: SendBuf,
        keep: Vec<u8>,
    ) -> MpiResult<()> {
        let peer = self.group[target as usize];
        let rid = net.send(peer, self.ctx, self.rank, tag, sbuf, SendMode::Standard)?;
        self.pending.push(Pending { target, op, what: Wait::Send { rid, _buf: keep } });
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
