//! The sans-I/O point-to-point engine.
//!
//! The engine holds matching queues, protocol state and requests, and talks
//! to the world only through method calls: the driver hands it packets
//! ([`Engine::on_packet`]), takes packets out ([`Engine::next_transmit`] /
//! [`Engine::transmit_done`]) and performs the few actions it asks for
//! ([`Engine::next_action`]: single-copy reads). No sockets, clocks or
//! environment: every behaviour is testable with engines wired together in
//! memory.
//!
//! Protocols: a message of at most the peer's eager limit goes whole in one
//! `Eager` packet when the sender holds enough eager credit for that peer;
//! otherwise an `Rts` announces it and the receiver, once matched, either
//! reads it by single copy (then `Fin`) or answers `Cts` and the sender
//! streams `Data` chunks. Credit bounds what a receiver can be made to
//! buffer for unexpected eager messages from each peer; it comes back in
//! `Credit` packets as the receiver consumes messages. An `Rts` needs no
//! credit, so a send whose receive is posted always completes.
//!
//! Split copy (see [`Engine::set_split_copy`]): a large single-copy message
//! can be copied by both processes at once. The receiver answers the `Rts`
//! with `Split` (the tail's place in its buffer), reads the head itself,
//! and the sender writes the tail (`Wrote` when done). The receive
//! completes, and `Fin` goes, only when both parts are in; so the sender's
//! buffer is read until `Fin` as before, and the send completes on `Fin`.
//! A failed write makes the receiver read the tail itself; a failed read
//! falls back to `Cts` and streaming, as for a whole single copy.

pub mod buffer;
mod direct;
pub mod matching;
pub mod request;
pub mod wire;

use std::collections::{HashMap, VecDeque};

use buffer::{RecvBuf, SendBuf};
use matching::{MatchQueues, SrcSel, TagSel, Unexpected, UnexpectedBody};
use request::{Part, RecvState, ReqKind, Request, RequestTable, SendState};
pub use request::{ReqId, SendMode, Status};
use wire::{Header, Kind, FLAG_SINGLE_COPY, FLAG_SPLIT_OK, HEADER_LEN, SHORT_HEADER_LEN};

/// Eager credit charged per message on top of its payload (the receiver's
/// cost of holding an envelope).
pub const ENVELOPE_COST: u64 = 64;

/// What the engine needs to know about the path to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCaps {
    /// Largest packet the transport takes (header included).
    pub max_packet: usize,
    /// Largest payload sent eagerly.
    pub eager_limit: usize,
    /// The receiver may read the sender's memory directly.
    pub single_copy: bool,
}

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Eager credit per peer, in bytes: the most a receiver buffers for
    /// unexpected eager messages from one peer.
    pub eager_window: u64,
    /// This process's pid (offered for single-copy reads).
    pub pid: u64,
    /// Whether this process can perform single-copy reads.
    pub single_copy_ok: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { eager_window: 1 << 20, pid: 0, single_copy_ok: false }
    }
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("no route to rank {0} (peer capabilities not set)")]
    NoRoute(u32),
    #[error("protocol error from rank {peer}: {what}")]
    Protocol { peer: u32, what: String },
    #[error("unknown request")]
    UnknownRequest,
    #[error("unknown matched message")]
    UnknownMessage,
}

/// Something the driver must do for the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read `len` bytes at `addr` in process `pid` into the receive buffer
    /// of `req` (see [`Engine::recv_buffer`]), then call
    /// [`Engine::single_copy_done`]. `peer` sent the offer; over a fabric
    /// (ofi) `pid` and `addr` are what its transport put in the `Rts` (a
    /// memory key and a remote address) instead.
    /// `offset` is where in the receive buffer the bytes go (not zero only
    /// for the parts of a split copy).
    SingleCopyRead { req: ReqId, peer: u32, pid: u64, addr: u64, offset: usize, len: usize },
    /// Split copy, sender side: write bytes `[offset, offset + len)` of the
    /// send buffer of `req` (see [`Engine::send_buffer`]) to `addr` in
    /// process `pid` (`peer`, the receiver), then call
    /// [`Engine::single_copy_write_done`].
    SingleCopyWrite { req: ReqId, peer: u32, pid: u64, addr: u64, offset: usize, len: usize },
}

/// A packet ready to go to a peer: the header and a view of the payload.
/// It borrows the engine, so it cannot outlive the send whose buffer it
/// views: [`Engine::transmit_done`] (which may complete that send) needs the
/// engine mutably.
#[derive(Debug)]
pub struct Transmit<'e> {
    header: [u8; HEADER_LEN],
    header_len: usize,
    payload: Option<(SendBuf, usize, usize)>,
    _engine: std::marker::PhantomData<&'e Engine>,
}

impl Transmit<'_> {
    /// The encoded header.
    pub fn header(&self) -> &[u8] {
        &self.header[..self.header_len]
    }
    /// The payload (a range of a pending send's buffer), possibly empty.
    pub fn payload(&self) -> &[u8] {
        match &self.payload {
            Some((buf, start, end)) => buf.slice(*start, *end),
            None => &[],
        }
    }
}

/// Handle of a message taken by a matched probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgId(pub u64);

#[derive(Debug, Clone, Copy)]
enum OnSent {
    Nothing,
    CompleteSend(ReqId),
    AwaitSyncAck(ReqId),
}

#[derive(Debug)]
enum Out {
    Packet { hdr: Header, payload: Option<(SendBuf, usize, usize)>, on_sent: OnSent },
    Data { sreq: ReqId, rreq: u64, buf: SendBuf, offset: usize, end: usize },
}

#[derive(Debug)]
struct Peer {
    caps: Option<PeerCaps>,
    /// Split copies with this peer are possible (both can reach each
    /// other's memory: see [`Engine::set_peer_split`]).
    split: bool,
    /// Bytes of eager credit left toward this peer.
    credit: u64,
    /// Credit consumed from this peer not yet returned.
    owed: u64,
    outq: VecDeque<Out>,
}

/// The point-to-point engine of one rank.
#[derive(Debug)]
pub struct Engine {
    me: u32,
    cfg: EngineConfig,
    peers: Vec<Peer>,
    reqs: RequestTable,
    queues: MatchQueues,
    actions: VecDeque<Action>,
    busy_peers: VecDeque<u32>,
    completions: u64,
    probed: HashMap<u64, (u32, Unexpected)>,
    next_msg: u64,
    split: SplitCopy,
    /// Pending sends that offered a split copy, and their peer.
    split_offers: (u32, u32),
    /// Receives that started a split copy.
    split_copies: u64,
    /// Receives posted and not complete (a sender with some is busy).
    pending_recvs: u64,
}

/// Settings of the split copy.
#[derive(Debug, Clone, Copy)]
struct SplitCopy {
    /// Smallest accepted length split; 0 = never.
    min: u64,
    /// The sender's share of the message, in 1/1024.
    share: u64,
    /// Smallest message offered while this side has receives posted (it
    /// has copies of its own to make then).
    busy_min: u64,
}

impl Engine {
    /// An engine for rank `me` of `size` world ranks.
    pub fn new(me: u32, size: u32, cfg: EngineConfig) -> Engine {
        let peers = (0..size)
            .map(|_| Peer { caps: None, split: false, credit: cfg.eager_window, owed: 0, outq: VecDeque::new() })
            .collect();
        Engine {
            me,
            cfg,
            peers,
            reqs: RequestTable::default(),
            queues: MatchQueues::default(),
            actions: VecDeque::new(),
            busy_peers: VecDeque::new(),
            completions: 0,
            probed: HashMap::new(),
            next_msg: 1,
            split: SplitCopy { min: 0, share: 512, busy_min: u64::MAX },
            split_offers: (0, 0),
            split_copies: 0,
            pending_recvs: 0,
        }
    }

    /// Share large single copies with the sender: a receive of at least
    /// `min` bytes (0: never) from a peer that offers it (the sender's
    /// [`Engine::set_peer_split`] and its own `min`) lets the sender write
    /// `share`/1024 of it (the tail) while this side reads the rest. A
    /// sender with receives of its own posted offers only messages of at
    /// least `busy_min` bytes (both sides copy already then: in both
    /// directions at once, splitting 64 and 256 KiB messages lost 10-20%).
    pub fn set_split_copy(&mut self, min: u64, share: u32, busy_min: u64) {
        self.split = SplitCopy { min, share: u64::from(share.clamp(1, 1023)), busy_min: busy_min.max(min) };
    }

    /// Whether this process and `peer` can write into each other's memory
    /// (cross-memory attach both ways), so split copies may be offered.
    pub fn set_peer_split(&mut self, peer: u32, on: bool) {
        if let Some(p) = self.peers.get_mut(peer as usize) {
            p.split = on;
        }
    }

    /// This engine's world rank.
    pub fn rank(&self) -> u32 {
        self.me
    }

    /// Record the path to `peer`; must precede the first send to it.
    pub fn set_peer_caps(&mut self, peer: u32, caps: PeerCaps) {
        let mut caps = caps;
        // An eager message must fit in a packet and in half the window.
        let by_packet = caps.max_packet.saturating_sub(HEADER_LEN);
        let by_window = (self.cfg.eager_window / 2).saturating_sub(ENVELOPE_COST) as usize;
        caps.eager_limit = caps.eager_limit.min(by_packet).min(by_window);
        self.peers[peer as usize].caps = Some(caps);
    }

    /// Whether a route to `peer` is known.
    pub fn has_peer_caps(&self, peer: u32) -> bool {
        self.peers.get(peer as usize).is_some_and(|p| p.caps.is_some())
    }

    /// Number of completions so far (a cheap "did anything finish" signal).
    pub fn completions(&self) -> u64 {
        self.completions
    }

    /// Receives that shared their copy with the sender so far.
    pub fn split_copies(&self) -> u64 {
        self.split_copies
    }

    /// Payload bytes buffered for unexpected eager messages.
    pub fn unexpected_bytes(&self) -> u64 {
        self.queues.unexpected_bytes()
    }

    /// Number of live requests.
    pub fn live_requests(&self) -> usize {
        self.reqs.live()
    }

    /// A human-readable summary of the engine's state, for stall reports.
    pub fn debug_summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "rank {}: {} live requests, {} posted receives, {} unexpected bytes, {} pending actions, busy peers {:?}",
            self.me,
            self.reqs.live(),
            self.queues.posted_count(),
            self.queues.unexpected_bytes(),
            self.actions.len(),
            self.busy_peers
        );
        for (i, p) in self.peers.iter().enumerate() {
            if p.caps.is_some() || !p.outq.is_empty() {
                let _ = writeln!(s, "  peer {i}: credit {} owed {} outq {}", p.credit, p.owed, p.outq.len());
            }
        }
        for (id, r) in self.reqs.iter() {
            if r.done.is_none() {
                let _ = writeln!(s, "  pending {:#x}: {:?}", id.0, r.kind);
            }
        }
        let _ = writeln!(s, "  unexpected: {}", self.queues.debug_summary());
        s
    }

    /// Start a send of `buf` to world rank `peer`, matched on `(ctx, src, tag)`
    /// at the receiver (`src` is this rank's rank in the communicator).
    pub fn post_send(
        &mut self,
        peer: u32,
        ctx: u32,
        src: i32,
        tag: i32,
        buf: SendBuf,
        mode: SendMode,
    ) -> Result<ReqId, EngineError> {
        let caps = self.peers.get(peer as usize).and_then(|p| p.caps).ok_or(EngineError::NoRoute(peer))?;
        let len = buf.len();
        let status = Status { source: src, tag, count: len, truncated: false, cancelled: false };
        let rid = self.reqs.insert(Request {
            kind: ReqKind::Send { peer, buf, mode, state: SendState::AwaitReply, split_offer: false },
            done: None,
            pending_status: status,
            detached: false,
        });
        let p = &mut self.peers[peer as usize];
        let cost = len as u64 + ENVELOPE_COST;
        let mut hdr = Header::new(Kind::Eager);
        hdr.ctx = ctx;
        hdr.src = src;
        hdr.tag = tag;
        hdr.len = len as u64;
        let state;
        let mut split_offer = false;
        if len <= caps.eager_limit && p.credit >= cost {
            p.credit -= cost;
            let sync = mode == SendMode::Synchronous;
            hdr.a = if sync { rid.0 } else { 0 };
            let on_sent = if sync { OnSent::AwaitSyncAck(rid) } else { OnSent::CompleteSend(rid) };
            p.outq.push_back(Out::Packet { hdr, payload: Some((buf, 0, len)), on_sent });
            state = SendState::EagerQueued;
        } else {
            hdr.kind = Kind::Rts;
            hdr.a = rid.0;
            if caps.single_copy {
                hdr.flags |= FLAG_SINGLE_COPY;
                hdr.b = self.cfg.pid;
                hdr.c = buf.addr() as u64;
                // Only while this side is otherwise idle: no receives of its
                // own pending, no split offered to another peer (a root
                // sending to many would write every tail alone).
                let big = len as u64 >= self.split.min && self.split.min > 0;
                let one_peer = self.split_offers.0 == 0 || self.split_offers.1 == peer;
                if p.split
                    && big
                    && peer != self.me
                    && one_peer
                    && (len as u64 >= self.split.busy_min || self.pending_recvs == 0)
                {
                    hdr.flags |= FLAG_SPLIT_OK;
                    self.split_offers = (self.split_offers.0 + 1, peer);
                    split_offer = true;
                }
            }
            p.outq.push_back(Out::Packet { hdr, payload: None, on_sent: OnSent::Nothing });
            state = SendState::AwaitReply;
        }
        self.mark_busy(peer);
        if let Some(Request { kind: ReqKind::Send { state: s, split_offer: o, .. }, .. }) = self.reqs.get_mut(rid) {
            *s = state;
            *o = split_offer;
        }
        Ok(rid)
    }

    /// Whether send `rid` went as a rendezvous and still waits for the
    /// receiver's answer to its `Rts` (queued or sent).
    pub fn awaits_reply(&self, rid: ReqId) -> bool {
        matches!(
            self.reqs.get(rid),
            Some(Request { kind: ReqKind::Send { state: SendState::AwaitReply, .. }, done: None, .. })
        )
    }

    /// The fast path of a small standard or ready send: when nothing waits
    /// to go to `peer` (so order is kept), the message fits eagerly and the
    /// credit allows, charge the credit and return the `Eager` header. No
    /// request is made: the caller hands header and payload to the
    /// transport, and the send is complete once the transport took them.
    /// If the transport refuses, the caller must call
    /// [`Engine::undo_inline_eager`] and take the ordinary path.
    #[inline]
    pub fn inline_eager(
        &mut self,
        peer: u32,
        ctx: u32,
        src: i32,
        tag: i32,
        len: usize,
    ) -> Option<[u8; SHORT_HEADER_LEN]> {
        let p = self.peers.get_mut(peer as usize)?;
        let caps = p.caps.as_ref()?;
        let cost = len as u64 + ENVELOPE_COST;
        if len > caps.eager_limit || p.credit < cost || !p.outq.is_empty() {
            return None;
        }
        p.credit -= cost;
        Some(Header::encode_short(ctx, src, tag))
    }

    /// Give back the credit of an [`Engine::inline_eager`] the transport refused.
    pub fn undo_inline_eager(&mut self, peer: u32, len: usize) {
        self.peers[peer as usize].credit += len as u64 + ENVELOPE_COST;
    }

    /// Post a receive into `buf` on context `ctx`.
    pub fn post_recv(&mut self, ctx: u32, src: SrcSel, tag: TagSel, buf: RecvBuf) -> ReqId {
        self.pending_recvs += 1;
        let rid = self.reqs.insert(Request {
            kind: ReqKind::Recv { ctx, buf, state: RecvState::Posted },
            done: None,
            pending_status: Status::default(),
            detached: false,
        });
        match self.queues.take_unexpected(ctx, src, tag) {
            Some(msg) => self.consume_unexpected(rid, msg),
            None => self.queues.push_posted(ctx, rid, src, tag),
        }
        rid
    }

    /// Status of the earliest unexpected message a receive would match.
    pub fn iprobe(&self, ctx: u32, src: SrcSel, tag: TagSel) -> Option<Status> {
        self.queues.peek_unexpected(ctx, src, tag).map(|m| Status {
            source: m.src,
            tag: m.tag,
            count: m.len as usize,
            truncated: false,
            cancelled: false,
        })
    }

    /// Matched probe: take the message so that only [`Engine::post_mrecv`]
    /// can receive it.
    pub fn improbe(&mut self, ctx: u32, src: SrcSel, tag: TagSel) -> Option<(MsgId, Status)> {
        let msg = self.queues.take_unexpected(ctx, src, tag)?;
        let status =
            Status { source: msg.src, tag: msg.tag, count: msg.len as usize, truncated: false, cancelled: false };
        let id = MsgId(self.next_msg);
        self.next_msg += 1;
        self.probed.insert(id.0, (ctx, msg));
        Some((id, status))
    }

    /// Receive a message taken by a matched probe.
    pub fn post_mrecv(&mut self, msg: MsgId, buf: RecvBuf) -> Result<ReqId, EngineError> {
        let (ctx, msg) = self.probed.remove(&msg.0).ok_or(EngineError::UnknownMessage)?;
        self.pending_recvs += 1;
        let rid = self.reqs.insert(Request {
            kind: ReqKind::Recv { ctx, buf, state: RecvState::Posted },
            done: None,
            pending_status: Status::default(),
            detached: false,
        });
        self.consume_unexpected(rid, msg);
        Ok(rid)
    }

    /// Cancel a receive that has not matched yet. Returns whether it was
    /// cancelled (it then completes with `cancelled` set).
    pub fn cancel_recv(&mut self, rid: ReqId) -> bool {
        let ctx = match self.reqs.get(rid) {
            Some(Request { kind: ReqKind::Recv { ctx, state: RecvState::Posted, .. }, done: None, .. }) => *ctx,
            _ => return false,
        };
        if !self.queues.remove_posted(ctx, rid) {
            return false;
        }
        let st = Status { cancelled: true, ..Status::default() };
        self.complete(rid, st);
        true
    }

    /// The status of a complete request, or `None` while it is pending.
    pub fn status(&self, rid: ReqId) -> Result<Option<Status>, EngineError> {
        self.reqs.get(rid).map(|r| r.done).ok_or(EngineError::UnknownRequest)
    }

    /// The status of a complete request, forgetting it; `None` (and the
    /// request kept) while it is pending. One lookup: the blocking calls'
    /// check.
    #[inline]
    pub fn take_if_done(&mut self, rid: ReqId) -> Result<Option<Status>, EngineError> {
        self.reqs.take_done(rid).map_err(|()| EngineError::UnknownRequest)
    }

    /// Forget a request. A pending one keeps running and is dropped when it
    /// completes (MPI_Request_free semantics).
    pub fn free(&mut self, rid: ReqId) -> Result<(), EngineError> {
        let req = self.reqs.get_mut(rid).ok_or(EngineError::UnknownRequest)?;
        if req.done.is_some() {
            self.reqs.remove(rid);
        } else {
            req.detached = true;
        }
        Ok(())
    }

    /// The receive buffer of a request (for single-copy reads).
    pub fn recv_buffer(&self, rid: ReqId) -> Option<RecvBuf> {
        match self.reqs.get(rid)?.kind {
            ReqKind::Recv { buf, .. } => Some(buf),
            _ => None,
        }
    }

    /// The send buffer of a pending send (for split-copy writes).
    pub fn send_buffer(&self, rid: ReqId) -> Option<SendBuf> {
        match self.reqs.get(rid)? {
            Request { kind: ReqKind::Send { buf, .. }, done: None, .. } => Some(*buf),
            _ => None,
        }
    }

    /// The next action the driver must perform.
    pub fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Report the outcome of a [`Action::SingleCopyRead`]. On failure the
    /// engine falls back to asking the sender to stream the data.
    pub fn single_copy_done(&mut self, rid: ReqId, ok: bool) {
        if let Some(Request {
            kind: ReqKind::Recv { state: RecvState::Split { head, tail, .. }, .. },
            done: None,
            ..
        }) = self.reqs.get_mut(rid)
        {
            let result = if ok { Part::Done } else { Part::Lost };
            if *head == Part::Pending {
                *head = result;
            } else if *tail == Part::Reading {
                *tail = result;
            } else {
                return;
            }
            self.split_advance(rid);
            return;
        }
        let (peer, sreq, expect) = match self.reqs.get(rid) {
            // Only a read still outstanding: once complete, the buffer is the user's again.
            Some(Request {
                kind: ReqKind::Recv { state: RecvState::SingleCopy { peer, sreq, expect, .. }, .. },
                done: None,
                ..
            }) => (*peer, *sreq, *expect),
            _ => return,
        };
        if ok {
            let mut h = Header::new(Kind::Fin);
            h.a = sreq;
            self.push_control(peer, h);
            let st = self.reqs.get(rid).map(|r| r.pending_status).unwrap_or_default();
            self.complete(rid, st);
        } else {
            if let Some(Request { kind: ReqKind::Recv { state, .. }, .. }) = self.reqs.get_mut(rid) {
                *state = RecvState::Receiving { expect, got: 0 };
            }
            let mut h = Header::new(Kind::Cts);
            h.a = sreq;
            h.b = rid.0;
            h.len = expect;
            self.push_control(peer, h);
        }
    }

    /// Take back the split copy of receive `rid` while its `Split` has not
    /// left yet (the driver saw the sender asleep: waking it for its part
    /// costs more than the part): the receive becomes a whole single copy.
    /// Returns the read to perform in place of the head's, or `None` when
    /// the receive is not such a split.
    pub fn unsplit(&mut self, rid: ReqId) -> Option<Action> {
        let req = self.reqs.get_mut(rid)?;
        if req.done.is_some() {
            return None;
        }
        let ReqKind::Recv { state, .. } = &mut req.kind else { return None };
        let RecvState::Split { peer, sreq, pid, addr, expect, head: Part::Pending, tail: Part::Pending, .. } = *state
        else {
            return None;
        };
        let q = &mut self.peers[peer as usize].outq;
        let pos =
            q.iter().position(|o| matches!(o, Out::Packet { hdr, .. } if hdr.kind == Kind::Split && hdr.b == rid.0))?;
        q.remove(pos);
        if q.is_empty() {
            self.busy_peers.retain(|&b| b != peer);
        }
        *state = RecvState::SingleCopy { peer, sreq, pid, addr, expect };
        self.split_copies -= 1;
        Some(Action::SingleCopyRead { req: rid, peer, pid, addr, offset: 0, len: expect as usize })
    }

    /// Report the outcome of a [`Action::SingleCopyWrite`]: the receiver
    /// learns it from `Wrote` (and copies the part itself after a failure).
    pub fn single_copy_write_done(&mut self, sreq: ReqId, ok: bool) {
        let Some(Request { kind: ReqKind::Send { peer, state, .. }, done: None, .. }) = self.reqs.get_mut(sreq) else {
            return;
        };
        let SendState::Writing { rreq, len } = *state else { return };
        *state = SendState::Written;
        let peer = *peer;
        let mut h = Header::new(Kind::Wrote);
        h.a = rreq;
        h.len = if ok { len } else { 0 };
        self.push_control(peer, h);
    }

    /// Peers that have packets waiting to go out.
    pub fn busy_peers(&self) -> impl Iterator<Item = u32> + '_ {
        self.busy_peers.iter().copied()
    }

    /// Whether any packet waits to go out.
    pub fn has_output(&self) -> bool {
        !self.busy_peers.is_empty()
    }

    /// The next packet for `peer`, if any. Call [`Engine::transmit_done`]
    /// once the transport accepted it; otherwise it stays first in line.
    pub fn next_transmit(&self, peer: u32) -> Option<Transmit<'_>> {
        let p = self.peers.get(peer as usize)?;
        Some(self.transmit_of(peer, p.outq.front()?))
    }

    /// The packet that will be `peer`'s next transmit after the first `i`
    /// are accepted, if it is known now: for `i = 0` the same as
    /// [`Engine::next_transmit`]; further on only while every packet before
    /// it is the last of its queue entry (a `Data` entry still needing more
    /// than one chunk ends the look-ahead). A transport that takes several
    /// packets in one write is handed them this way; the caller then calls
    /// [`Engine::transmit_done`] once per packet taken, in order.
    pub fn peek_transmit(&self, peer: u32, i: usize) -> Option<Transmit<'_>> {
        if i == 0 {
            return self.next_transmit(peer);
        }
        let p = self.peers.get(peer as usize)?;
        for out in p.outq.iter().take(i) {
            if let Out::Data { offset, end, .. } = out {
                if self.chunk_len(peer, *end - *offset) < *end - *offset {
                    return None;
                }
            }
        }
        Some(self.transmit_of(peer, p.outq.get(i)?))
    }

    /// The packet a queue entry sends next.
    fn transmit_of(&self, peer: u32, out: &Out) -> Transmit<'_> {
        match out {
            Out::Packet { hdr, payload, .. } => {
                let (header, header_len) = hdr.encode_wire();
                Transmit { header, header_len, payload: *payload, _engine: std::marker::PhantomData }
            }
            Out::Data { rreq, buf, offset, end, .. } => {
                let chunk = self.chunk_len(peer, *end - *offset);
                let mut h = Header::new(Kind::Data);
                h.a = *rreq;
                h.b = *offset as u64;
                h.len = chunk as u64;
                Transmit {
                    header: h.encode(),
                    header_len: HEADER_LEN,
                    payload: Some((*buf, *offset, *offset + chunk)),
                    _engine: std::marker::PhantomData,
                }
            }
        }
    }

    /// The packet from [`Engine::next_transmit`] was accepted by the transport.
    pub fn transmit_done(&mut self, peer: u32) {
        let chunk_room = self.chunk_len(peer, usize::MAX);
        let p = &mut self.peers[peer as usize];
        let mut finished_send = None;
        match p.outq.front_mut() {
            None => return,
            Some(Out::Packet { on_sent, .. }) => {
                let on_sent = *on_sent;
                p.outq.pop_front();
                match on_sent {
                    OnSent::Nothing => {}
                    OnSent::CompleteSend(rid) => finished_send = Some(rid),
                    OnSent::AwaitSyncAck(rid) => {
                        if let Some(Request { kind: ReqKind::Send { state, .. }, .. }) = self.reqs.get_mut(rid) {
                            *state = SendState::AwaitSyncAck;
                        }
                    }
                }
            }
            Some(Out::Data { sreq, offset, end, .. }) => {
                let chunk = chunk_room.min(*end - *offset);
                *offset += chunk;
                if *offset >= *end {
                    finished_send = Some(*sreq);
                    p.outq.pop_front();
                }
            }
        }
        if self.peers[peer as usize].outq.is_empty() {
            self.busy_peers.retain(|&b| b != peer);
        }
        if let Some(rid) = finished_send {
            let st = self.reqs.get(rid).map(|r| r.pending_status).unwrap_or_default();
            self.complete(rid, st);
        }
    }

    /// Handle one packet from world rank `from`.
    pub fn on_packet(&mut self, from: u32, pkt: &[u8]) -> Result<(), EngineError> {
        let proto = |what: &str| EngineError::Protocol { peer: from, what: what.to_string() };
        if from as usize >= self.peers.len() {
            return Err(proto("packet from a rank outside the job"));
        }
        let (h, header_len) = Header::decode_with_len(pkt).ok_or_else(|| proto("malformed header"))?;
        let payload = &pkt[header_len..];
        match h.kind {
            Kind::Eager => {
                if payload.len() as u64 != h.len {
                    return Err(proto("eager payload length mismatch"));
                }
                let cost = h.len + ENVELOPE_COST;
                match self.queues.take_posted(h.ctx, h.src, h.tag) {
                    Some(rid) => {
                        self.deliver_eager(rid, h.src, h.tag, payload);
                        self.after_eager_match(from, cost, h.a);
                    }
                    None => self.queues.push_unexpected(
                        h.ctx,
                        Unexpected {
                            peer: from,
                            src: h.src,
                            tag: h.tag,
                            len: h.len,
                            cost,
                            body: UnexpectedBody::Eager { data: payload.to_vec(), sync_sreq: h.a },
                        },
                    ),
                }
            }
            Kind::Rts => {
                let single_copy = (h.flags & FLAG_SINGLE_COPY != 0).then_some((h.b, h.c));
                let split_ok = single_copy.is_some() && h.flags & FLAG_SPLIT_OK != 0;
                let msg = Unexpected {
                    peer: from,
                    src: h.src,
                    tag: h.tag,
                    len: h.len,
                    // The sender spent no eager credit on an Rts, so
                    // matching it must return none.
                    cost: 0,
                    body: UnexpectedBody::Rts { sreq: h.a, single_copy, split_ok },
                };
                match self.queues.take_posted(h.ctx, h.src, h.tag) {
                    Some(rid) => self.consume_unexpected(rid, msg),
                    None => self.queues.push_unexpected(h.ctx, msg),
                }
            }
            Kind::Cts => {
                let sreq = ReqId(h.a);
                let Some(req) = self.reqs.get_mut(sreq) else { return Err(proto("Cts for an unknown send")) };
                let ReqKind::Send { peer, buf, state, .. } = &mut req.kind else {
                    return Err(proto("Cts for a receive"));
                };
                if *peer != from {
                    return Err(proto("Cts from the wrong rank"));
                }
                // Streaming a complete send would read a buffer the user owns again.
                if req.done.is_some() || !matches!(*state, SendState::AwaitReply | SendState::Written) {
                    return Err(proto("Cts for a send not awaiting one"));
                }
                let accept = (h.len as usize).min(buf.len());
                if accept == 0 {
                    let st = req.pending_status;
                    self.complete(sreq, st);
                } else {
                    *state = SendState::Streaming;
                    let buf = *buf;
                    self.peers[from as usize].outq.push_back(Out::Data {
                        sreq,
                        rreq: h.b,
                        buf,
                        offset: 0,
                        end: accept,
                    });
                    self.mark_busy(from);
                }
            }
            Kind::Data => self.data_arrived(from, &h, Some(payload))?,
            Kind::Fin | Kind::SyncAck => {
                let sreq = ReqId(h.a);
                let Some(req) = self.reqs.get(sreq) else { return Err(proto("ack for an unknown send")) };
                if !matches!(req.kind, ReqKind::Send { .. }) {
                    return Err(proto("ack for a receive"));
                }
                // The receiver waits for `Wrote` before `Fin`: a split write
                // in progress must not have its buffer handed back.
                if matches!(req.kind, ReqKind::Send { state: SendState::Writing { .. }, .. }) {
                    return Err(proto("Fin during a split write"));
                }
                let st = req.pending_status;
                self.complete(sreq, st);
            }
            Kind::Split => {
                let sreq = ReqId(h.a);
                let Some(req) = self.reqs.get_mut(sreq) else { return Err(proto("Split for an unknown send")) };
                let ReqKind::Send { peer, buf, state, .. } = &mut req.kind else {
                    return Err(proto("Split for a receive"));
                };
                let offset = (h.src as u32 as u64) | ((h.tag as u32 as u64) << 32);
                let fits = offset.checked_add(h.len).is_some_and(|end| end <= buf.len() as u64);
                if *peer != from || req.done.is_some() || *state != SendState::AwaitReply || !fits || h.len == 0 {
                    return Err(proto("Split for a send not awaiting one, or out of its bounds"));
                }
                *state = SendState::Writing { rreq: h.b, len: h.len };
                self.actions.push_back(Action::SingleCopyWrite {
                    req: sreq,
                    peer: from,
                    pid: u64::from(h.ctx),
                    addr: h.c,
                    offset: offset as usize,
                    len: h.len as usize,
                });
            }
            Kind::Wrote => {
                let rid = ReqId(h.a);
                let Some(req) = self.reqs.get_mut(rid) else { return Err(proto("Wrote for an unknown receive")) };
                let ReqKind::Recv { state: RecvState::Split { peer, expect, at, tail, .. }, .. } = &mut req.kind else {
                    return Err(proto("Wrote for a receive not splitting"));
                };
                if *peer != from || req.done.is_some() || *tail != Part::Pending {
                    return Err(proto("Wrote not awaited"));
                }
                *tail = if h.len == *expect - *at { Part::Done } else { Part::Failed };
                self.split_advance(rid);
            }
            Kind::Credit => {
                // A receiver only returns credit it was given: more than the
                // window is a garbled or hostile packet (and must not overflow).
                let window = self.cfg.eager_window;
                let p = &mut self.peers[from as usize];
                match p.credit.checked_add(h.len) {
                    Some(c) if c <= window => p.credit = c,
                    _ => return Err(proto("credit beyond the eager window")),
                }
            }
        }
        Ok(())
    }

    /// Where the payload (`payload_len` bytes) of the packet whose header
    /// is `hdr` belongs, if it is a `Data` packet for a receive that takes
    /// it whole: a pointer into the receive buffer. A transport may then
    /// read the payload there itself and call [`Engine::on_data_placed`]
    /// instead of [`Engine::on_packet`] (no copy through its own buffer).
    /// The pointer stays valid until then: the receive cannot complete
    /// before all its data has arrived.
    pub fn data_target(&self, hdr: &[u8], payload_len: usize) -> Option<*mut u8> {
        let h = Header::decode(hdr)?;
        if h.kind != Kind::Data || h.len != payload_len as u64 {
            return None;
        }
        let req = self.reqs.get(ReqId(h.a))?;
        let ReqKind::Recv { buf, state: RecvState::Receiving { .. }, .. } = req.kind else { return None };
        let end = usize::try_from(h.b).ok()?.checked_add(payload_len)?;
        if req.done.is_some() || end > buf.len() {
            return None;
        }
        let mut buf = buf;
        Some(buf.prefix_mut(end)[h.b as usize..].as_mut_ptr())
    }

    /// The payload of the `Data` packet with header `hdr` from `from` was
    /// written where [`Engine::data_target`] said.
    pub fn on_data_placed(&mut self, from: u32, hdr: &[u8]) -> Result<(), EngineError> {
        let proto = |what: &str| EngineError::Protocol { peer: from, what: what.to_string() };
        let h = Header::decode(hdr).filter(|h| h.kind == Kind::Data).ok_or_else(|| proto("malformed header"))?;
        self.data_arrived(from, &h, None)
    }

    /// A `Data` packet: `payload` to copy into the receive buffer, or `None`
    /// when its `h.len` bytes were placed there already.
    fn data_arrived(&mut self, from: u32, h: &Header, payload: Option<&[u8]>) -> Result<(), EngineError> {
        let proto = |what: &str| EngineError::Protocol { peer: from, what: what.to_string() };
        let rid = ReqId(h.a);
        let Some(req) = self.reqs.get_mut(rid) else { return Err(proto("Data for an unknown receive")) };
        let ReqKind::Recv { buf, state: RecvState::Receiving { expect, got }, .. } = &mut req.kind else {
            return Err(proto("Data for a receive not expecting it"));
        };
        // A complete receive's buffer is the user's again.
        if req.done.is_some() {
            return Err(proto("Data for a complete receive"));
        }
        let n = match payload {
            Some(p) => {
                buf.write_at(h.b as usize, p);
                p.len() as u64
            }
            None => h.len,
        };
        *got += n;
        if *got >= *expect {
            let st = req.pending_status;
            self.complete(rid, st);
        }
        Ok(())
    }

    // ---- internals ----

    fn chunk_len(&self, peer: u32, remaining: usize) -> usize {
        let max = self.peers[peer as usize].caps.map(|c| c.max_packet).unwrap_or(64 << 10);
        remaining.min(max.saturating_sub(HEADER_LEN).max(1))
    }

    fn mark_busy(&mut self, peer: u32) {
        if !self.busy_peers.contains(&peer) {
            self.busy_peers.push_back(peer);
        }
    }

    fn push_control(&mut self, peer: u32, hdr: Header) {
        self.peers[peer as usize].outq.push_back(Out::Packet { hdr, payload: None, on_sent: OnSent::Nothing });
        self.mark_busy(peer);
    }

    fn complete(&mut self, rid: ReqId, status: Status) {
        let Some(req) = self.reqs.get_mut(rid) else { return };
        if req.done.is_some() {
            return;
        }
        match req.kind {
            ReqKind::Send { split_offer: true, .. } => self.split_offers.0 -= 1,
            ReqKind::Recv { .. } => self.pending_recvs -= 1,
            _ => {}
        }
        req.done = Some(status);
        self.completions += 1;
        if req.detached {
            self.reqs.remove(rid);
        }
    }

    /// Return credit for a consumed message, in batches.
    fn owe(&mut self, peer: u32, cost: u64) {
        let threshold = (self.cfg.eager_window / 4).max(1);
        let p = &mut self.peers[peer as usize];
        p.owed += cost;
        if p.owed >= threshold {
            let mut h = Header::new(Kind::Credit);
            h.len = p.owed;
            p.owed = 0;
            self.push_control(peer, h);
        }
    }

    fn after_eager_match(&mut self, peer: u32, cost: u64, sync_sreq: u64) {
        if sync_sreq != 0 {
            let mut h = Header::new(Kind::SyncAck);
            h.a = sync_sreq;
            self.push_control(peer, h);
        }
        self.owe(peer, cost);
    }

    #[inline]
    fn deliver_eager(&mut self, rid: ReqId, src: i32, tag: i32, data: &[u8]) {
        let Some(req) = self.reqs.get_mut(rid) else { return };
        let ReqKind::Recv { buf, .. } = &req.kind else { return };
        if req.done.is_some() {
            return;
        }
        let written = buf.write_at(0, data);
        self.pending_recvs -= 1;
        req.done =
            Some(Status { source: src, tag, count: written, truncated: data.len() > buf.len(), cancelled: false });
        self.completions += 1;
        if req.detached {
            self.reqs.remove(rid);
        }
    }

    /// A split copy's part finished: complete when both are in, read the
    /// tail after a failed write, or fall back to streaming after a failed
    /// read (the sender has finished writing by then: `Wrote` came).
    fn split_advance(&mut self, rid: ReqId) {
        let Some(req) = self.reqs.get_mut(rid) else { return };
        let ReqKind::Recv { state, .. } = &mut req.kind else { return };
        let RecvState::Split { peer, sreq, pid, addr, expect, at, head, tail } = *state else { return };
        if head == Part::Pending || matches!(tail, Part::Pending | Part::Reading) {
            return;
        }
        if head == Part::Done && tail == Part::Done {
            let st = req.pending_status;
            let mut h = Header::new(Kind::Fin);
            h.a = sreq;
            self.push_control(peer, h);
            self.complete(rid, st);
        } else if head == Part::Done && tail == Part::Failed {
            *state = RecvState::Split { peer, sreq, pid, addr, expect, at, head, tail: Part::Reading };
            self.actions.push_back(Action::SingleCopyRead {
                req: rid,
                peer,
                pid,
                addr: addr + at,
                offset: at as usize,
                len: (expect - at) as usize,
            });
        } else {
            *state = RecvState::Receiving { expect, got: 0 };
            let mut h = Header::new(Kind::Cts);
            h.a = sreq;
            h.b = rid.0;
            h.len = expect;
            self.push_control(peer, h);
        }
    }

    /// A receive claims a message (from the unexpected queue, a matched
    /// probe, or a just-arrived Rts).
    fn consume_unexpected(&mut self, rid: ReqId, msg: Unexpected) {
        match msg.body {
            UnexpectedBody::Eager { data, sync_sreq } => {
                self.deliver_eager(rid, msg.src, msg.tag, &data);
                self.after_eager_match(msg.peer, msg.cost, sync_sreq);
            }
            UnexpectedBody::Rts { sreq, single_copy, split_ok } => {
                let split = self.split;
                let split_peer = self.peers[msg.peer as usize].split && msg.peer != self.me;
                let Some(req) = self.reqs.get_mut(rid) else { return };
                let ReqKind::Recv { buf, state, .. } = &mut req.kind else { return };
                let accept = msg.len.min(buf.len() as u64);
                req.pending_status = Status {
                    source: msg.src,
                    tag: msg.tag,
                    count: accept as usize,
                    truncated: msg.len > buf.len() as u64,
                    cancelled: false,
                };
                let peer = msg.peer;
                let at = match single_copy {
                    Some(_) if split_ok && split_peer && split.min > 0 && accept >= split.min => {
                        split_point(buf.addr() as u64, accept, split.share)
                    }
                    _ => None,
                };
                match single_copy {
                    Some((pid, addr)) if accept > 0 && self.cfg.single_copy_ok && at.is_some() => {
                        let at = at.expect("checked");
                        *state = RecvState::Split {
                            peer,
                            sreq,
                            pid,
                            addr,
                            expect: accept,
                            at,
                            head: Part::Pending,
                            tail: Part::Pending,
                        };
                        self.split_copies += 1;
                        // The sender's part first: it starts while this side reads.
                        let mut h = Header::new(Kind::Split);
                        h.a = sreq;
                        h.b = rid.0;
                        h.c = buf.addr() as u64 + at;
                        h.len = accept - at;
                        h.ctx = self.cfg.pid as u32;
                        h.src = at as u32 as i32;
                        h.tag = (at >> 32) as u32 as i32;
                        self.push_control(peer, h);
                        self.actions.push_back(Action::SingleCopyRead {
                            req: rid,
                            peer,
                            pid,
                            addr,
                            offset: 0,
                            len: at as usize,
                        });
                    }
                    Some((pid, addr)) if accept > 0 && self.cfg.single_copy_ok => {
                        *state = RecvState::SingleCopy { peer, sreq, pid, addr, expect: accept };
                        self.actions.push_back(Action::SingleCopyRead {
                            req: rid,
                            peer,
                            pid,
                            addr,
                            offset: 0,
                            len: accept as usize,
                        });
                    }
                    _ => {
                        *state = RecvState::Receiving { expect: accept, got: 0 };
                        let st = req.pending_status;
                        let mut h = Header::new(Kind::Cts);
                        h.a = sreq;
                        h.b = rid.0;
                        h.len = accept;
                        self.push_control(peer, h);
                        if accept == 0 {
                            self.complete(rid, st);
                        }
                    }
                }
                self.owe(peer, msg.cost);
            }
        }
    }
}

/// Where a split copy of `len` bytes into a buffer at `base` divides: the
/// sender writes about `share`/1024 of it from there on; the cut falls on a
/// page boundary of the receive buffer (a cache line's for messages under
/// 64 KiB), so the two copies never write the same page. `None` when no
/// such cut leaves both parts non-empty.
fn split_point(base: u64, len: u64, share: u64) -> Option<u64> {
    let align: u64 = if len >= 64 << 10 { 4096 } else { 64 };
    let tail = len / 1024 * share + len % 1024 * share / 1024;
    let cut = (base + len - tail) & !(align - 1);
    let at = cut.checked_sub(base)?;
    (at > 0 && at < len).then_some(at)
}
