//! Running collective schedules over the engine.
//!
//! A [`CollRun`] pairs a schedule (from rmpi-collectives) with the
//! communicator it runs on. Its point-to-point traffic uses the
//! communicator's collective context id (`ctx + 1`), and its tags carry the
//! collective's sequence number on that communicator, so concurrent
//! nonblocking collectives never match each other's messages.

use std::sync::Arc;

use rmpi_collectives::{CollError, Collective, P2p, ReqToken};
use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{ReqId, SendMode};

use crate::comm::Group;
use crate::error::{ErrorClass, MpiError, MpiResult};
use crate::net::Net;

/// Bits of a collective tag that hold the schedule's own step tag.
pub const STEP_TAG_BITS: u32 = 12;

/// The tag of step `step` (below `1 << STEP_TAG_BITS`) of the `seq`-th
/// collective on a communicator.
/// The value of `RMPI_COLL_<NAME>` (`name` upper-case, e.g. "ALLREDUCE"),
/// read once per process; `None` when unset. The direct blocking paths
/// (`shmcoll`, `bigcoll`, `fastcoll`) step aside when it is set, so the
/// schedule's algorithm it names runs (or, for `shm`, the shared-memory one).
pub(crate) fn coll_env(name: &str) -> Option<&'static str> {
    const NAMES: [&str; 6] = ["BARRIER", "BCAST", "ALLREDUCE", "ALLTOALL", "ALLGATHER", "REDUCE"];
    static VALUES: std::sync::OnceLock<[Option<String>; 6]> = std::sync::OnceLock::new();
    let values = VALUES.get_or_init(|| NAMES.map(|n| std::env::var(format!("RMPI_COLL_{n}")).ok()));
    let i = NAMES.iter().position(|&n| n == name).expect("a collective with a direct path");
    values[i].as_deref()
}

pub(crate) fn coll_tag(seq: u32, step: u32) -> i32 {
    let seq = seq & ((1 << (31 - STEP_TAG_BITS)) - 1);
    ((seq << STEP_TAG_BITS) | step) as i32
}

/// The runtime requests behind a collective's tokens: token `t` is slot
/// `t - 1` (tested on every progress step, so no hashing); `None` in a
/// slot stands for a send that completed at once. Slots are reused.
#[derive(Default)]
struct Tokens {
    slots: Vec<Option<Option<ReqId>>>,
    free: Vec<usize>,
}

impl Tokens {
    fn insert(&mut self, rid: Option<ReqId>) -> ReqToken {
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(rid);
                i
            }
            None => {
                self.slots.push(Some(rid));
                self.slots.len() - 1
            }
        };
        i as ReqToken + 1
    }

    fn get(&self, t: ReqToken) -> Option<Option<ReqId>> {
        self.slots.get((t as usize).wrapping_sub(1)).copied().flatten()
    }

    fn remove(&mut self, t: ReqToken) {
        let i = (t as usize).wrapping_sub(1);
        if let Some(slot) = self.slots.get_mut(i) {
            if slot.take().is_some() {
                self.free.push(i);
            }
        }
    }
}

/// A collective in flight on one communicator.
pub struct CollRun {
    pub coll: Collective,
    ctx: u32,
    group: Group,
    rank: usize,
    seq: u32,
    tokens: Tokens,
}

impl CollRun {
    /// Wrap `coll`, the `seq`-th collective on a communicator with p2p context `ctx`.
    pub fn new(coll: Collective, ctx: u32, group: Group, rank: i32, seq: u32) -> CollRun {
        CollRun { coll, ctx: ctx + 1, group, rank: rank as usize, seq, tokens: Tokens::default() }
    }

    /// Use sequence number `seq` for the next run (persistent collectives
    /// take a fresh one at every start, in the order all ranks start them).
    pub fn set_seq(&mut self, seq: u32) {
        self.seq = seq;
    }

    /// Advance the schedule; true when complete.
    pub fn progress(&mut self, net: &mut Net) -> MpiResult<bool> {
        let mut p2p = EngineP2p {
            run_ctx: self.ctx,
            group: &self.group,
            rank: self.rank,
            seq: self.seq,
            net,
            tokens: &mut self.tokens,
        };
        let algo = self.coll.algorithm();
        self.coll.progress(&mut p2p).map_err(|e| {
            let class = match e {
                CollError::Invalid(_) => ErrorClass::Arg,
                CollError::P2p(_) => ErrorClass::Other,
            };
            MpiError::new(class, format!("collective {algo}: {e}"))
        })
    }
}

struct EngineP2p<'a> {
    run_ctx: u32,
    group: &'a Group,
    rank: usize,
    seq: u32,
    net: &'a mut Net,
    tokens: &'a mut Tokens,
}

impl EngineP2p<'_> {
    fn tag(&self, step: u32) -> Result<i32, CollError> {
        if step >= 1 << STEP_TAG_BITS {
            return Err(CollError::Invalid(format!("step tag {step} too large")));
        }
        Ok(coll_tag(self.seq, step))
    }

    fn world(&self, peer: usize) -> Result<u32, CollError> {
        self.group.get(peer).copied().ok_or_else(|| CollError::Invalid(format!("peer {peer} outside the communicator")))
    }

    /// A token for `rid`; `None` stands for a send already complete.
    fn token(&mut self, rid: Option<ReqId>) -> ReqToken {
        self.tokens.insert(rid)
    }
}

impl P2p for EngineP2p<'_> {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.group.len()
    }

    fn isend(&mut self, peer: usize, tag: u32, data: &[u8]) -> Result<ReqToken, CollError> {
        let tag = self.tag(tag)?;
        let world = self.world(peer)?;
        let inline = self
            .net
            .send_inline(world, self.run_ctx, self.rank as i32, tag, data, SendMode::Standard)
            .map_err(|e| CollError::P2p(e.to_string()))?;
        if inline {
            return Ok(self.token(None));
        }
        // SAFETY: the executor keeps `data` alive and unchanged until this
        // token tests complete (the P2p contract).
        let buf = unsafe { SendBuf::new(data.as_ptr(), data.len()) };
        let rid = self
            .net
            .send(world, self.run_ctx, self.rank as i32, tag, buf, SendMode::Standard)
            .map_err(|e| CollError::P2p(e.to_string()))?;
        Ok(self.token(Some(rid)))
    }

    fn irecv(&mut self, peer: usize, tag: u32, buf: &mut [u8]) -> Result<ReqToken, CollError> {
        let tag = self.tag(tag)?;
        // SAFETY: the executor keeps `buf` alive and untouched until this
        // token tests complete (the P2p contract).
        let rbuf = unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) };
        let rid = self.net.recv(self.run_ctx, SrcSel::Rank(peer as i32), TagSel::Tag(tag), rbuf);
        Ok(self.token(Some(rid)))
    }

    fn test(&mut self, req: ReqToken) -> Result<bool, CollError> {
        let Some(rid) = self.tokens.get(req).ok_or_else(|| CollError::P2p("unknown token".into()))? else {
            self.tokens.remove(req);
            return Ok(true);
        };
        match self.net.engine.status(rid).map_err(|e| CollError::P2p(e.to_string()))? {
            None => Ok(false),
            Some(st) => {
                self.tokens.remove(req);
                let _ = self.net.engine.free(rid);
                if st.truncated {
                    return Err(CollError::P2p("collective message truncated (mismatched counts?)".into()));
                }
                Ok(true)
            }
        }
    }
}

/// Who takes part in a collective when it is not the communicator's own
/// group: the world ranks of every participant, in the numbering the
/// schedule uses, and this process's index among them. Intercommunicator
/// collectives run over both groups at once this way (on the
/// intercommunicator's context, with its sequence numbers).
#[derive(Debug, Clone)]
pub struct Span {
    /// World rank of each participant.
    pub members: Vec<u32>,
    /// This process's index in `members`.
    pub rank: usize,
}

/// Where a persistent collective's input comes from at every start.
#[derive(Clone)]
pub enum CollIn {
    /// These bytes, re-read at each start.
    Bytes(SendBuf),
    /// Whatever this returns at each start (e.g. a freshly packed image of
    /// a non-contiguous buffer, or the receive buffer of an in-place call).
    Func(Arc<dyn Fn() -> Vec<u8> + Send + Sync>),
}

impl CollIn {
    /// Re-arm `coll` with this input.
    pub(crate) fn restart(&self, coll: &mut Collective) -> Result<(), CollError> {
        match self {
            CollIn::Bytes(b) => coll.restart(b.slice(0, b.len())),
            CollIn::Func(f) => coll.restart(&f()),
        }
    }
}

impl std::fmt::Debug for CollIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CollIn::Bytes(b) => write!(f, "CollIn::Bytes({} bytes)", b.len()),
            CollIn::Func(_) => f.write_str("CollIn::Func"),
        }
    }
}

/// A function that places a collective's result.
pub type Deliver = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Where a collective's result goes when it completes: the caller's receive
/// buffer, whole or only some byte ranges (the v-variants' blocks: MPI leaves
/// the bytes between blocks untouched), or a function that places it (the
/// C ABI unpacks non-contiguous datatypes this way).
#[derive(Clone)]
pub struct CollOut(Target);

#[derive(Clone)]
enum Target {
    Whole(RecvBuf),
    Blocks(RecvBuf, Vec<(usize, usize)>),
    Func(Deliver),
}

impl std::fmt::Debug for CollOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Target::Whole(b) => write!(f, "CollOut::whole({} bytes)", b.len()),
            Target::Blocks(b, v) => write!(f, "CollOut::blocks({} bytes, {} blocks)", b.len(), v.len()),
            Target::Func(_) => f.write_str("CollOut::func"),
        }
    }
}

impl CollOut {
    /// Copy the whole result (as much as fits) to the start of `buf`.
    pub fn whole(buf: RecvBuf) -> CollOut {
        CollOut(Target::Whole(buf))
    }

    /// Copy only the `(offset, len)` ranges of the result, each to the same
    /// offset of `buf`.
    pub fn blocks(buf: RecvBuf, blocks: Vec<(usize, usize)>) -> CollOut {
        CollOut(Target::Blocks(buf, blocks))
    }

    /// Hand the result to `f`, which runs once per completion inside the
    /// runtime's progress (it must not call MPI).
    pub fn func(f: Deliver) -> CollOut {
        CollOut(Target::Func(f))
    }

    /// Deliver `result` (an empty result touches no buffer).
    pub fn deliver(&self, result: &[u8]) {
        match &self.0 {
            Target::Whole(buf) => {
                buf.write_at(0, &result[..result.len().min(buf.len())]);
            }
            Target::Blocks(buf, blocks) => {
                for &(off, len) in blocks {
                    if len > 0 && off + len <= result.len() {
                        buf.write_at(off, &result[off..off + len]);
                    }
                }
            }
            Target::Func(f) => f(result),
        }
    }
}
