//! The engine's request table: a slab with generation-checked ids.

use super::buffer::{RecvBuf, SendBuf};

/// Id of an engine request. The low 32 bits index the slab, the high 32 bits
/// hold a generation so a stale id is never mistaken for a new request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReqId(pub u64);

impl ReqId {
    fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// How a send completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// Complete when the data is safely on its way (eager) or delivered.
    Standard,
    /// Complete only once the receive has matched.
    Synchronous,
    /// The user promises the receive is posted; treated like Standard.
    Ready,
}

/// Completion status of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Sender's rank in the communicator (receives).
    pub source: i32,
    pub tag: i32,
    /// Bytes received (or sent).
    pub count: usize,
    /// The message was longer than the receive buffer.
    pub truncated: bool,
    /// The request was cancelled.
    pub cancelled: bool,
}

/// Progress of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendState {
    /// Eager packet handed to the out queue.
    EagerQueued,
    /// Eager packet sent; waiting for the receiver's match (synchronous).
    AwaitSyncAck,
    /// Rts sent; waiting for Cts or Fin.
    AwaitReply,
    /// Streaming Data packets.
    Streaming,
    /// The receiver asked this side to write `len` bytes of the message into
    /// its buffer (split copy); the driver is writing. `rreq` = its receive.
    Writing { rreq: u64, len: u64 },
    /// The split write is done and reported; waiting for `Fin` (or a `Cts`
    /// if the receiver could not finish by single copy).
    Written,
}

/// One part of a split copy, as the receiver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Being copied: by this side's read (head) or the sender's write (tail).
    Pending,
    /// The sender's write failed: this side reads the part itself.
    Failed,
    /// This side reads the part the sender could not write.
    Reading,
    /// In the receive buffer.
    Done,
    /// This side's own read failed.
    Lost,
}

/// Progress of a receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvState {
    /// In the posted queue.
    Posted,
    /// Matched a large message; data is coming (`got` of `expect` bytes).
    Receiving { expect: u64, got: u64 },
    /// Matched a large message offered for single copy; the driver reads it.
    SingleCopy { peer: u32, sreq: u64, pid: u64, addr: u64, expect: u64 },
    /// Single copy shared with the sender (split copy): this side reads
    /// bytes `[0, at)`, the sender writes `[at, expect)` into the buffer.
    Split { peer: u32, sreq: u64, pid: u64, addr: u64, expect: u64, at: u64, head: Part, tail: Part },
}

/// What a request does.
#[derive(Debug)]
pub enum ReqKind {
    /// `split_offer`: its `Rts` offered a split copy (counted by the
    /// engine until the send completes).
    Send {
        peer: u32,
        buf: SendBuf,
        mode: SendMode,
        state: SendState,
        split_offer: bool,
    },
    Recv {
        ctx: u32,
        buf: RecvBuf,
        state: RecvState,
    },
}

/// One request.
#[derive(Debug)]
pub struct Request {
    pub kind: ReqKind,
    /// Set when the request is complete.
    pub done: Option<Status>,
    /// The status being built (receives fill it when they match).
    pub pending_status: Status,
    /// The user freed the request before completion: drop it when done.
    pub detached: bool,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    req: Option<Request>,
}

/// All live requests.
#[derive(Debug, Default)]
pub struct RequestTable {
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
}

impl RequestTable {
    /// Store a request and return its id.
    pub fn insert(&mut self, req: Request) -> ReqId {
        self.live += 1;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { generation: 0, req: None });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        slot.req = Some(req);
        ReqId(((slot.generation as u64) << 32) | index as u64)
    }

    pub fn get(&self, id: ReqId) -> Option<&Request> {
        let slot = self.slots.get(id.index())?;
        if slot.generation != id.generation() {
            return None;
        }
        slot.req.as_ref()
    }

    pub fn get_mut(&mut self, id: ReqId) -> Option<&mut Request> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.generation != id.generation() {
            return None;
        }
        slot.req.as_mut()
    }

    /// The status of a complete request, removing it; `None` while pending
    /// (or for an unknown id: see [`RequestTable::get`]).
    #[inline]
    pub fn take_done(&mut self, id: ReqId) -> Result<Option<crate::Status>, ()> {
        let Some(slot) = self.slots.get_mut(id.index()) else { return Err(()) };
        if slot.generation != id.generation() {
            return Err(());
        }
        let Some(req) = slot.req.as_ref() else { return Err(()) };
        let Some(done) = req.done else { return Ok(None) };
        slot.req = None;
        self.free.push(id.index());
        self.live -= 1;
        Ok(Some(done))
    }

    /// Remove a request; returns it if the id was live.
    pub fn remove(&mut self, id: ReqId) -> Option<Request> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.generation != id.generation() {
            return None;
        }
        let req = slot.req.take()?;
        self.free.push(id.index());
        self.live -= 1;
        Some(req)
    }

    /// Number of live requests.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Every live request with its id.
    pub fn iter(&self) -> impl Iterator<Item = (ReqId, &Request)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.req.as_ref().map(|r| (ReqId(((s.generation as u64) << 32) | i as u64), r)))
    }
}
