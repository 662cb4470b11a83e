//! In-memory network of N engines, for protocol tests without processes.
//!
//! Every engine lives in this process. Packets travel through one FIFO queue
//! per ordered pair of ranks (the transport's per-peer order), and a seeded
//! scheduler interleaves: delivering the head packet of a random pair,
//! moving one packet out of a random engine (sometimes refusing it, as a
//! transport answering `WouldBlock` would), performing the single-copy reads
//! engines ask for (a plain memory copy: the "remote" address is a pointer
//! into this process), and posting the next operation of a rank's program.
//!
//! The harness logs, per receiving rank, the order in which receives were
//! posted and envelopes (Eager / Rts packets) arrived, plus what probes and
//! cancels observed. [`Net::replay_model`] replays that log through a
//! reference matcher written from MPI's rules, which says which send each
//! receive must get; [`Net::check_against_model`] compares it with what the
//! engines delivered.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rmpi_engine::buffer::{RecvBuf, SendBuf};
pub use rmpi_engine::matching::{SrcSel, TagSel};
pub use rmpi_engine::wire::{Header, Kind, HEADER_LEN};
pub use rmpi_engine::{Action, Engine, EngineConfig, EngineError, MsgId, PeerCaps, ReqId, SendMode, Status};

/// Byte a receive buffer holds before anything is written to it.
pub const SENTINEL: u8 = 0xA5;
/// Bytes past the end of every receive buffer that the engine must not touch.
pub const GUARD: usize = 16;
/// Added to a rank to make the pid its engine advertises.
pub const PID_BASE: u64 = 1000;

/// A heap buffer handed to an engine as raw memory. It never moves and is
/// freed only when the owning [`Net`] is dropped, so it outlives every
/// request that refers to it.
pub struct RawBuf {
    ptr: *mut u8,
    len: usize,
}

impl RawBuf {
    pub fn from_vec(v: Vec<u8>) -> RawBuf {
        let b = v.into_boxed_slice();
        let len = b.len();
        let ptr = Box::into_raw(b) as *mut u8;
        RawBuf { ptr, len }
    }

    pub fn filled(len: usize, byte: u8) -> RawBuf {
        RawBuf::from_vec(vec![byte; len])
    }

    /// The whole allocation (receive buffers include the guard bytes).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is the live boxed slice made in from_vec; the
        // tests read it only while no engine is being driven.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    fn send_buf(&self) -> SendBuf {
        // SAFETY: the allocation lives as long as the Net, longer than any request.
        unsafe { SendBuf::new(self.ptr, self.len) }
    }

    fn recv_buf(&self, cap: usize) -> RecvBuf {
        assert!(cap <= self.len);
        // SAFETY: as above; the test never touches the buffer while the receive is pending.
        unsafe { RecvBuf::new(self.ptr, cap) }
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from Box::into_raw of a boxed slice of this length.
        unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len))) }
    }
}

/// Shape of the simulated network.
#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    pub n: usize,
    pub eager_window: u64,
    /// Largest packet, header included.
    pub max_packet: usize,
    pub eager_limit: usize,
    /// Senders offer single copy and receivers perform it.
    pub single_copy: bool,
    /// Percent of transmit attempts refused (WouldBlock).
    pub refuse_pct: u32,
    /// Percent of single-copy reads reported as failed.
    pub read_fail_pct: u32,
    /// Split copies from this length on (0: off; needs `single_copy`).
    pub split_min: u64,
    /// The sender's share of a split copy, in 1/1024.
    pub split_share: u32,
    /// Smallest split offered while the sender has receives posted.
    pub split_busy_min: u64,
    /// Percent of split-copy writes reported as failed.
    pub write_fail_pct: u32,
    /// Packets a pair's wire holds before the transport refuses more.
    pub wire_cap: usize,
}

impl NetConfig {
    /// Small limits so that rendezvous, multi-chunk Data and credit
    /// exhaustion all happen with messages of a few hundred bytes:
    /// Data chunks of 100 bytes, eager up to 64 bytes, a 1 KiB window.
    pub fn small(n: usize) -> NetConfig {
        NetConfig {
            n,
            eager_window: 1024,
            max_packet: HEADER_LEN + 100,
            eager_limit: 64,
            single_copy: false,
            refuse_pct: 15,
            read_fail_pct: 0,
            split_min: 0,
            split_share: 512,
            split_busy_min: u64::MAX,
            write_fail_pct: 0,
            wire_cap: 6,
        }
    }

    pub fn with_single_copy(mut self, on: bool) -> NetConfig {
        self.single_copy = on;
        self
    }

    /// Single copy, split with the sender from `min` bytes on.
    pub fn with_split(mut self, min: u64) -> NetConfig {
        self.single_copy = true;
        self.split_min = min;
        self
    }
}

/// What an operation of the test is.
#[derive(Debug, Clone)]
pub enum OpKind {
    Send { to: usize, ctx: u32, tag: i32, mode: SendMode, data: Vec<u8> },
    Recv { ctx: u32, src: SrcSel, tag: TagSel, cap: usize, probed: Option<MsgId> },
}

/// One posted operation and what became of it.
pub struct Op {
    pub rank: usize,
    pub kind: OpKind,
    pub rid: ReqId,
    buf: RawBuf,
    /// Status once complete (observed by polling after each step).
    pub done: Option<Status>,
    /// Scheduler step at which completion was first observed.
    pub done_step: Option<u64>,
    /// The test freed the request (its status is no longer observable).
    pub freed: bool,
    /// For sends: the kind of envelope packet (Eager or Rts) that carried it.
    pub envelope: Option<Kind>,
    /// (rank, n): the n-th operation its rank posted; stable across
    /// interleavings of the same per-rank programs.
    pub label: (usize, usize),
}

impl Op {
    pub fn is_send(&self) -> bool {
        matches!(self.kind, OpKind::Send { .. })
    }
}

/// What a receiving rank saw, in order (input of the reference model).
#[derive(Debug, Clone)]
pub enum Event {
    Posted { op: usize },
    Arrived { to: usize, op: usize },
    Cancel { op: usize, cancelled: bool },
    Iprobe { at: usize, ctx: u32, src: SrcSel, tag: TagSel, seen: Option<Status> },
    Improbe { at: usize, ctx: u32, src: SrcSel, tag: TagSel, got: Option<(MsgId, Status)> },
    Mrecv { op: usize, msg: MsgId },
}

/// One operation of a rank's program, posted when the scheduler decides.
#[derive(Debug, Clone)]
pub enum ProgOp {
    Send {
        to: usize,
        ctx: u32,
        tag: i32,
        len: usize,
        mode: SendMode,
    },
    Recv {
        ctx: u32,
        src: SrcSel,
        tag: TagSel,
        cap: usize,
    },
    /// Try to cancel this rank's oldest receive not yet seen complete.
    CancelOldest,
    Iprobe {
        ctx: u32,
        src: SrcSel,
        tag: TagSel,
    },
    /// Matched probe; a found message is kept for a later `Mrecv`.
    Improbe {
        ctx: u32,
        src: SrcSel,
        tag: TagSel,
    },
    /// Receive the oldest message kept by `Improbe`, if any.
    Mrecv {
        cap: usize,
    },
    /// Free this rank's newest request not yet freed (MPI_Request_free).
    FreeNewest,
}

/// The simulated network.
pub struct Net {
    pub cfg: NetConfig,
    pub eng: Vec<Engine>,
    pub seed: u64,
    rng: StdRng,
    /// Packets in flight, index from * n + to.
    wires: Vec<VecDeque<Vec<u8>>>,
    /// Bytes of a packet the transport refused, to check the retry is identical.
    refused: Vec<Option<Vec<u8>>>,
    /// Actions taken from engines, not yet performed.
    actions: Vec<Vec<Action>>,
    pub ops: Vec<Op>,
    pending_ops: Vec<Vec<usize>>,
    posted_by: Vec<usize>,
    seen_completions: Vec<u64>,
    pub log: Vec<(u64, Event)>,
    /// Send ops per pair in posting order, and how many envelopes arrived.
    sent: Vec<Vec<usize>>,
    arrived: Vec<usize>,
    /// Every packet that left an engine: (from, to, header).
    pub trace: Vec<(usize, usize, Header)>,
    /// Highest `unexpected_bytes()` seen per engine.
    pub max_unexpected: Vec<u64>,
    /// Single-copy reads performed (successful or failed): (req rank, len).
    pub reads: Vec<(usize, usize)>,
    /// Split-copy writes performed (successful or failed): (sending rank, len).
    pub writes: Vec<(usize, usize)>,
    pub program: Vec<VecDeque<ProgOp>>,
    probed: Vec<VecDeque<MsgId>>,
    pub step_no: u64,
    /// Stop delivering on these pairs (from * n + to) until released.
    held: Vec<bool>,
    /// Eager credit the sender of each pair (from * n + to) holds, computed
    /// from the packets alone: the window, minus every Eager packet sent,
    /// plus every Credit packet the sender received.
    credit: Vec<i64>,
}

impl Net {
    pub fn new(cfg: NetConfig, seed: u64) -> Net {
        let n = cfg.n;
        let mut eng: Vec<Engine> = (0..n)
            .map(|r| {
                Engine::new(
                    r as u32,
                    n as u32,
                    EngineConfig {
                        eager_window: cfg.eager_window,
                        pid: PID_BASE + r as u64,
                        single_copy_ok: cfg.single_copy,
                    },
                )
            })
            .collect();
        for e in eng.iter_mut() {
            e.set_split_copy(cfg.split_min, cfg.split_share, cfg.split_busy_min);
            for p in 0..n {
                e.set_peer_split(p as u32, cfg.single_copy);
                e.set_peer_caps(
                    p as u32,
                    PeerCaps { max_packet: cfg.max_packet, eager_limit: cfg.eager_limit, single_copy: cfg.single_copy },
                );
            }
        }
        Net {
            cfg,
            eng,
            seed,
            rng: StdRng::seed_from_u64(seed),
            wires: (0..n * n).map(|_| VecDeque::new()).collect(),
            refused: vec![None; n * n],
            actions: vec![Vec::new(); n],
            ops: Vec::new(),
            pending_ops: vec![Vec::new(); n],
            posted_by: vec![0; n],
            seen_completions: vec![0; n],
            log: Vec::new(),
            sent: vec![Vec::new(); n * n],
            arrived: vec![0; n * n],
            trace: Vec::new(),
            max_unexpected: vec![0; n],
            reads: Vec::new(),
            writes: Vec::new(),
            program: vec![VecDeque::new(); n],
            probed: vec![VecDeque::new(); n],
            step_no: 0,
            held: vec![false; n * n],
            credit: vec![cfg.eager_window as i64; n * n],
        }
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Payload for a new send: bytes derived from the op index and the RNG.
    pub fn payload(&mut self, len: usize) -> Vec<u8> {
        let id = self.ops.len() as u64;
        let mut v: Vec<u8> = (0..len).map(|_| self.rng.gen()).collect();
        let tag = id.to_le_bytes();
        let k = len.min(8);
        v[..k].copy_from_slice(&tag[..k]);
        v
    }

    // ---- posting ----

    /// Post a send of `data` from `from` to `to`.
    pub fn send(&mut self, from: usize, to: usize, ctx: u32, tag: i32, data: Vec<u8>, mode: SendMode) -> usize {
        let buf = RawBuf::from_vec(data.clone());
        let rid = self.eng[from]
            .post_send(to as u32, ctx, from as i32, tag, buf.send_buf(), mode)
            .unwrap_or_else(|e| panic!("seed {}: post_send failed: {e}", self.seed));
        let op = self.ops.len();
        self.ops.push(Op {
            rank: from,
            kind: OpKind::Send { to, ctx, tag, mode, data },
            rid,
            buf,
            done: None,
            done_step: None,
            freed: false,
            envelope: None,
            label: (from, self.posted_by[from]),
        });
        self.pending_ops[from].push(op);
        self.posted_by[from] += 1;
        self.sent[from * self.cfg.n + to].push(op);
        self.poll();
        op
    }

    /// Post a receive of at most `cap` bytes at rank `at`.
    pub fn recv(&mut self, at: usize, ctx: u32, src: SrcSel, tag: TagSel, cap: usize) -> usize {
        let buf = RawBuf::filled(cap + GUARD, SENTINEL);
        let rid = self.eng[at].post_recv(ctx, src, tag, buf.recv_buf(cap));
        let op = self.push_recv(at, ctx, src, tag, cap, None, rid, buf);
        self.log.push((self.step_no, Event::Posted { op }));
        self.poll();
        op
    }

    #[allow(clippy::too_many_arguments)]
    fn push_recv(
        &mut self,
        at: usize,
        ctx: u32,
        src: SrcSel,
        tag: TagSel,
        cap: usize,
        probed: Option<MsgId>,
        rid: ReqId,
        buf: RawBuf,
    ) -> usize {
        let op = self.ops.len();
        self.ops.push(Op {
            rank: at,
            kind: OpKind::Recv { ctx, src, tag, cap, probed },
            rid,
            buf,
            done: None,
            done_step: None,
            freed: false,
            envelope: None,
            label: (at, self.posted_by[at]),
        });
        self.pending_ops[at].push(op);
        self.posted_by[at] += 1;
        op
    }

    /// Cancel a receive; returns the engine's answer.
    pub fn cancel(&mut self, op: usize) -> bool {
        let rank = self.ops[op].rank;
        let cancelled = self.eng[rank].cancel_recv(self.ops[op].rid);
        self.log.push((self.step_no, Event::Cancel { op, cancelled }));
        self.poll();
        cancelled
    }

    pub fn iprobe(&mut self, at: usize, ctx: u32, src: SrcSel, tag: TagSel) -> Option<Status> {
        let seen = self.eng[at].iprobe(ctx, src, tag);
        self.log.push((self.step_no, Event::Iprobe { at, ctx, src, tag, seen }));
        seen
    }

    pub fn improbe(&mut self, at: usize, ctx: u32, src: SrcSel, tag: TagSel) -> Option<(MsgId, Status)> {
        let got = self.eng[at].improbe(ctx, src, tag);
        self.log.push((self.step_no, Event::Improbe { at, ctx, src, tag, got }));
        got
    }

    /// Receive a message taken by `improbe`.
    pub fn mrecv(&mut self, at: usize, msg: MsgId, cap: usize) -> Result<usize, EngineError> {
        let buf = RawBuf::filled(cap + GUARD, SENTINEL);
        let rid = self.eng[at].post_mrecv(msg, buf.recv_buf(cap))?;
        // The context is the probe's; the model takes it from the message.
        let op = self.push_recv(at, u32::MAX, SrcSel::Any, TagSel::Any, cap, Some(msg), rid, buf);
        self.log.push((self.step_no, Event::Mrecv { op, msg }));
        self.poll();
        Ok(op)
    }

    /// Free the request of `op` (MPI_Request_free).
    pub fn free(&mut self, op: usize) {
        self.poll();
        let rank = self.ops[op].rank;
        self.eng[rank].free(self.ops[op].rid).unwrap_or_else(|e| panic!("free failed: {e}"));
        self.ops[op].freed = true;
        self.pending_ops[rank].retain(|&o| o != op);
    }

    // ---- observing ----

    /// Status of `op` if it completed.
    pub fn status(&mut self, op: usize) -> Option<Status> {
        self.poll();
        self.ops[op].done
    }

    /// The first `n` bytes of a receive buffer.
    pub fn recv_bytes(&self, op: usize, n: usize) -> &[u8] {
        &self.ops[op].buf.bytes()[..n]
    }

    /// The whole receive buffer, guard bytes included.
    pub fn recv_buffer(&self, op: usize) -> &[u8] {
        self.ops[op].buf.bytes()
    }

    pub fn send_data(&self, op: usize) -> &[u8] {
        match &self.ops[op].kind {
            OpKind::Send { data, .. } => data,
            _ => panic!("op {op} is not a send"),
        }
    }

    /// Headers of the packets that went from `from` to `to`, in order.
    pub fn packets(&self, from: usize, to: usize) -> Vec<Header> {
        self.trace.iter().filter(|(f, t, _)| *f == from && *t == to).map(|(_, _, h)| *h).collect()
    }

    pub fn count_kind(&self, from: usize, to: usize, kind: Kind) -> usize {
        self.packets(from, to).iter().filter(|h| h.kind == kind).count()
    }

    /// Record completions of pending operations.
    fn poll(&mut self) {
        for r in 0..self.cfg.n {
            let c = self.eng[r].completions();
            if c == self.seen_completions[r] {
                continue;
            }
            self.seen_completions[r] = c;
            let step = self.step_no;
            let mut still = Vec::new();
            for &op in &self.pending_ops[r] {
                let o = &mut self.ops[op];
                match self.eng[r].status(o.rid) {
                    Ok(Some(st)) => {
                        o.done = Some(st);
                        o.done_step = Some(step);
                    }
                    Ok(None) => still.push(op),
                    Err(e) => panic!("seed {}: live request of op {op} unknown to the engine: {e}", self.seed),
                }
            }
            self.pending_ops[r] = still;
        }
        for r in 0..self.cfg.n {
            let u = self.eng[r].unexpected_bytes();
            if u > self.max_unexpected[r] {
                self.max_unexpected[r] = u;
            }
        }
    }

    // ---- moving packets ----

    fn fetch_actions(&mut self) {
        for r in 0..self.cfg.n {
            while let Some(a) = self.eng[r].next_action() {
                self.actions[r].push(a);
            }
        }
    }

    /// Nothing in flight, nothing to transmit, no action waiting.
    pub fn is_quiet(&mut self) -> bool {
        self.fetch_actions();
        self.wires.iter().all(|w| w.is_empty())
            && self.eng.iter().all(|e| !e.has_output())
            && self.actions.iter().all(|a| a.is_empty())
    }

    /// Try to move the next packet from `from` to `to` onto the wire.
    /// Returns false if refused (wire full or simulated WouldBlock).
    pub fn transmit(&mut self, from: usize, to: usize, may_refuse: bool) -> bool {
        let n = self.cfg.n;
        let pair = from * n + to;
        let Some(t) = self.eng[from].next_transmit(to as u32) else {
            panic!("seed {}: rank {from} lists {to} as busy but has no packet for it", self.seed)
        };
        let mut bytes = Vec::with_capacity(t.header().len() + t.payload().len());
        bytes.extend_from_slice(t.header());
        bytes.extend_from_slice(t.payload());
        if let Some(prev) = self.refused[pair].take() {
            assert_eq!(prev, bytes, "seed {}: a refused packet changed before it was retried", self.seed);
        }
        let full = self.wires[pair].len() >= self.cfg.wire_cap;
        if may_refuse && (full || self.rng.gen_range(0..100) < self.cfg.refuse_pct) {
            self.refused[pair] = Some(bytes);
            return false;
        }
        assert!(
            bytes.len() <= self.cfg.max_packet,
            "seed {}: packet of {} bytes exceeds max_packet {}",
            self.seed,
            bytes.len(),
            self.cfg.max_packet
        );
        let h = Header::decode(&bytes).expect("engine produced a malformed header");
        if h.kind == Kind::Eager {
            self.credit[pair] -= (h.len + rmpi_engine::ENVELOPE_COST) as i64;
            assert!(self.credit[pair] >= 0, "seed {}: rank {from} sent eager beyond its credit toward {to}", self.seed);
        }
        self.trace.push((from, to, h));
        self.wires[pair].push_back(bytes);
        self.eng[from].transmit_done(to as u32);
        self.poll();
        true
    }

    /// Deliver the head packet of the pair (from, to). Returns its header.
    pub fn deliver(&mut self, from: usize, to: usize) -> Option<Header> {
        let n = self.cfg.n;
        let pair = from * n + to;
        let pkt = self.wires[pair].pop_front()?;
        let (h, header_len) = Header::decode_with_len(&pkt).expect("malformed header on the wire");
        if matches!(h.kind, Kind::Eager | Kind::Rts) {
            let k = self.arrived[pair];
            self.arrived[pair] += 1;
            let op = *self.sent[pair]
                .get(k)
                .unwrap_or_else(|| panic!("seed {}: envelope #{k} from {from} to {to} has no send", self.seed));
            let OpKind::Send { ctx, tag, data, .. } = &self.ops[op].kind else { unreachable!() };
            assert_eq!(
                (h.ctx, h.src, h.tag, h.len),
                (*ctx, from as i32, *tag, data.len() as u64),
                "seed {}: envelope #{k} from {from} to {to} is not the #{k} send posted",
                self.seed
            );
            if h.kind == Kind::Eager {
                assert_eq!(
                    &pkt[header_len..],
                    &data[..],
                    "seed {}: eager payload differs from the send buffer",
                    self.seed
                );
            }
            self.ops[op].envelope = Some(h.kind);
            self.log.push((self.step_no, Event::Arrived { to, op }));
        }
        if h.kind == Kind::Credit {
            // Credit from `from` belongs to the pair (to -> from).
            let back = to * n + from;
            self.credit[back] += h.len as i64;
            assert!(
                self.credit[back] <= self.cfg.eager_window as i64,
                "seed {}: rank {from} returned more eager credit to {to} than it was given ({} > window {})",
                self.seed,
                self.credit[back],
                self.cfg.eager_window
            );
        }
        self.eng[to]
            .on_packet(from as u32, &pkt)
            .unwrap_or_else(|e| panic!("seed {}: rank {to} rejected a packet from {from} ({h:?}): {e}", self.seed));
        self.poll();
        Some(h)
    }

    /// Move every packet out of engine `from` (no refusals).
    pub fn pump(&mut self, from: usize) {
        while self.eng[from].has_output() {
            let peers: Vec<u32> = self.eng[from].busy_peers().collect();
            for p in peers {
                self.transmit(from, p as usize, false);
            }
        }
    }

    /// Deliver every packet in flight from `from` to `to`.
    pub fn deliver_all(&mut self, from: usize, to: usize) {
        while self.deliver(from, to).is_some() {}
    }

    /// Perform one single-copy read or split-copy write that rank `r` asked for.
    fn perform_action(&mut self, r: usize, idx: usize) {
        let a = self.actions[r].swap_remove(idx);
        match a {
            Action::SingleCopyRead { req, peer, pid, addr, offset, mut len } => {
                // Sometimes the driver takes a split back before its Split
                // left (a sleeping sender): the whole message instead. A
                // Split the transport refused was not taken, so it may go.
                if offset == 0 && self.cfg.split_min > 0 && self.rng.gen_range(0..5) == 0 {
                    if let Some(Action::SingleCopyRead { len: whole, .. }) = self.eng[r].unsplit(req) {
                        len = whole;
                        let pair = r * self.cfg.n + peer as usize;
                        let refused_split = self.refused[pair]
                            .as_ref()
                            .and_then(|p| Header::decode(p))
                            .is_some_and(|h| h.kind == Kind::Split && h.b == req.0);
                        if refused_split {
                            self.refused[pair] = None;
                        }
                    }
                }
                self.perform_read(r, req, pid, addr, offset, len)
            }
            Action::SingleCopyWrite { req, peer, pid, addr, offset, len } => {
                self.perform_write(r, req, peer as usize, pid, addr, offset, len)
            }
        }
        self.poll();
    }

    /// A single-copy read of `len` bytes at `addr` into the receive of `req`
    /// at `offset`.
    fn perform_read(&mut self, r: usize, req: ReqId, pid: u64, addr: u64, offset: usize, len: usize) {
        // Find the send whose buffer is being read, to check the pid offered.
        let seed = self.seed;
        let owner = self
            .ops
            .iter()
            .find(|o| {
                o.is_send() && o.buf.ptr as u64 <= addr && addr + len as u64 <= o.buf.ptr as u64 + o.buf.len as u64
            })
            .unwrap_or_else(|| panic!("seed {seed}: single-copy read of an address no send offered"));
        let (owner_rank, owner_rid) = (owner.rank, owner.rid);
        assert_eq!(pid, PID_BASE + owner_rank as u64, "seed {seed}: single-copy read names the wrong pid");
        assert_eq!(
            self.eng[owner_rank].status(owner_rid),
            Ok(None),
            "seed {seed}: single-copy read of a send that already completed"
        );
        self.reads.push((r, len));
        let ok = self.rng.gen_range(0..100) >= self.cfg.read_fail_pct;
        if ok {
            let mut rb = self.eng[r].recv_buffer(req).expect("single-copy read for a request that is not a receive");
            let dst = rb.range_mut(offset, offset + len);
            assert_eq!(dst.len(), len, "seed {seed}: single-copy read past the receive buffer");
            // SAFETY: addr..addr+len lies in the live send buffer of a
            // pending send in this process (checked above); dst is a
            // distinct receive buffer.
            unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, dst.as_mut_ptr(), len) };
        }
        self.eng[r].single_copy_done(req, ok);
    }

    /// A split-copy write of bytes `[offset, offset + len)` of the send
    /// `req` to `addr` in rank `to`.
    #[allow(clippy::too_many_arguments)]
    fn perform_write(&mut self, r: usize, req: ReqId, to: usize, pid: u64, addr: u64, offset: usize, len: usize) {
        let seed = self.seed;
        assert_eq!(pid, PID_BASE + to as u64, "seed {seed}: split write names the wrong pid");
        let target = self
            .ops
            .iter()
            .find(|o| {
                o.rank == to
                    && !o.is_send()
                    && o.buf.ptr as u64 <= addr
                    && addr + len as u64 <= o.buf.ptr as u64 + o.buf.len as u64 - GUARD as u64
            })
            .unwrap_or_else(|| panic!("seed {seed}: split write to an address no receive of rank {to} owns"));
        assert_eq!(
            self.eng[to].status(target.rid),
            Ok(None),
            "seed {seed}: split write into a receive that already completed"
        );
        self.writes.push((r, len));
        let ok = self.rng.gen_range(0..100) >= self.cfg.write_fail_pct;
        if ok {
            let sb = self.eng[r].send_buffer(req).expect("split write for a request that is not a pending send");
            let src = sb.slice(offset, offset + len);
            // SAFETY: addr..addr+len lies in the live receive buffer of a
            // pending receive in this process (checked above, guard excluded).
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), addr as *mut u8, len) };
        }
        self.eng[r].single_copy_write_done(req, ok);
    }

    /// Stop (or resume) delivering packets from `from` to `to`.
    pub fn hold(&mut self, from: usize, to: usize, on: bool) {
        let n = self.cfg.n;
        self.held[from * n + to] = on;
    }

    // ---- scheduling ----

    /// Post the next operation of `r`'s program.
    pub fn post_next(&mut self, r: usize) {
        let Some(p) = self.program[r].pop_front() else {
            return;
        };
        match p {
            ProgOp::Send { to, ctx, tag, len, mode } => {
                let data = self.payload(len);
                self.send(r, to, ctx, tag, data, mode);
            }
            ProgOp::Recv { ctx, src, tag, cap } => {
                self.recv(r, ctx, src, tag, cap);
            }
            ProgOp::CancelOldest => {
                self.poll();
                let target = self.ops.iter().position(|o| {
                    o.rank == r && !o.is_send() && o.done.is_none() && !o.freed && {
                        let OpKind::Recv { probed, .. } = o.kind else { unreachable!() };
                        probed.is_none()
                    }
                });
                if let Some(op) = target {
                    self.cancel(op);
                }
            }
            ProgOp::Iprobe { ctx, src, tag } => {
                self.iprobe(r, ctx, src, tag);
            }
            ProgOp::Improbe { ctx, src, tag } => {
                if let Some((m, _)) = self.improbe(r, ctx, src, tag) {
                    self.probed[r].push_back(m);
                }
            }
            ProgOp::FreeNewest => {
                if let Some(op) = (0..self.ops.len()).rev().find(|&i| self.ops[i].rank == r && !self.ops[i].freed) {
                    self.free(op);
                }
            }
            ProgOp::Mrecv { cap } => {
                if let Some(m) = self.probed[r].pop_front() {
                    self.mrecv(r, m, cap).unwrap_or_else(|e| panic!("seed {}: post_mrecv failed: {e}", self.seed));
                }
            }
        }
    }

    /// One random step. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.fetch_actions();
        let n = self.cfg.n;
        let deliverable: Vec<usize> = (0..n * n).filter(|&p| !self.wires[p].is_empty() && !self.held[p]).collect();
        let talkers: Vec<usize> = (0..n).filter(|&r| self.eng[r].has_output()).collect();
        let actors: Vec<usize> = (0..n).filter(|&r| !self.actions[r].is_empty()).collect();
        let posters: Vec<usize> = (0..n).filter(|&r| !self.program[r].is_empty()).collect();
        let mut menu = Vec::new();
        if !deliverable.is_empty() {
            menu.extend([0, 0, 0]);
        }
        if !talkers.is_empty() {
            menu.extend([1, 1, 1]);
        }
        if !actors.is_empty() {
            menu.push(2);
        }
        if !posters.is_empty() {
            menu.extend([3, 3]);
        }
        if menu.is_empty() {
            return false;
        }
        self.step_no += 1;
        match menu[self.rng.gen_range(0..menu.len())] {
            0 => {
                let p = deliverable[self.rng.gen_range(0..deliverable.len())];
                self.deliver(p / n, p % n);
            }
            1 => {
                let r = talkers[self.rng.gen_range(0..talkers.len())];
                let peers: Vec<u32> = self.eng[r].busy_peers().collect();
                assert!(!peers.is_empty(), "seed {}: has_output with no busy peer", self.seed);
                let p = peers[self.rng.gen_range(0..peers.len())] as usize;
                // A full wire refuses (back-pressure), and so does a random
                // WouldBlock; but only while a delivery can make room, so
                // the run cannot spin on refusals alone.
                let may_refuse = !deliverable.is_empty();
                self.transmit(r, p, may_refuse);
            }
            2 => {
                let r = actors[self.rng.gen_range(0..actors.len())];
                let i = self.rng.gen_range(0..self.actions[r].len());
                self.perform_action(r, i);
            }
            _ => {
                let r = posters[self.rng.gen_range(0..posters.len())];
                self.post_next(r);
            }
        }
        true
    }

    /// Step until nothing is left to do (held pairs stay in flight).
    pub fn run(&mut self) {
        let mut budget = 2_000_000u64;
        while self.step() {
            budget -= 1;
            assert!(budget > 0, "seed {}: no quiescence after 2M steps (livelock?)", self.seed);
        }
    }

    // ---- reference model ----

    /// Replay the log through a reference matcher built from MPI's rules
    /// and check every probe and cancel answer against it. Returns, for
    /// each receive op that matched, the send op and the step of the match.
    pub fn replay_model(&self) -> HashMap<usize, (usize, u64)> {
        #[derive(Default)]
        struct Rank {
            posted: Vec<usize>,
            unexpected: Vec<usize>,
            probed: HashMap<MsgId, usize>,
        }
        let accepts = |recv: (u32, SrcSel, TagSel), send: &Op| -> bool {
            let OpKind::Send { ctx, tag, .. } = &send.kind else { unreachable!() };
            let (rctx, src, rtag) = recv;
            rctx == *ctx
                && match src {
                    SrcSel::Any => true,
                    SrcSel::Rank(s) => s == send.rank as i32,
                }
                && match rtag {
                    TagSel::Any => true,
                    TagSel::Tag(t) => t == *tag,
                }
        };
        let sel = |op: &Op| -> (u32, SrcSel, TagSel) {
            let OpKind::Recv { ctx, src, tag, .. } = op.kind else { unreachable!() };
            (ctx, src, tag)
        };
        let envelope = |s: usize| -> Status {
            let OpKind::Send { tag, data, .. } = &self.ops[s].kind else { unreachable!() };
            Status { source: self.ops[s].rank as i32, tag: *tag, count: data.len(), truncated: false, cancelled: false }
        };
        let mut ranks: Vec<Rank> = (0..self.cfg.n).map(|_| Rank::default()).collect();
        let mut matched = HashMap::new();
        let seed = self.seed;
        for (step, ev) in &self.log {
            match ev {
                Event::Posted { op } => {
                    let r = &mut ranks[self.ops[*op].rank];
                    let s = sel(&self.ops[*op]);
                    match r.unexpected.iter().position(|&m| accepts(s, &self.ops[m])) {
                        Some(i) => {
                            matched.insert(*op, (r.unexpected.remove(i), *step));
                        }
                        None => r.posted.push(*op),
                    }
                }
                Event::Arrived { to, op } => {
                    let r = &mut ranks[*to];
                    match r.posted.iter().position(|&p| accepts(sel(&self.ops[p]), &self.ops[*op])) {
                        Some(i) => {
                            matched.insert(r.posted.remove(i), (*op, *step));
                        }
                        None => r.unexpected.push(*op),
                    }
                }
                Event::Cancel { op, cancelled } => {
                    let r = &mut ranks[self.ops[*op].rank];
                    let still_posted = r.posted.iter().position(|&p| p == *op);
                    if let Some(i) = still_posted {
                        r.posted.remove(i);
                    }
                    assert_eq!(
                        *cancelled,
                        still_posted.is_some(),
                        "seed {seed}: cancel of op {op} answered {cancelled}, but the receive {} still posted",
                        if still_posted.is_some() { "was" } else { "was not" }
                    );
                }
                Event::Iprobe { at, ctx, src, tag, seen } => {
                    let r = &ranks[*at];
                    let want =
                        r.unexpected.iter().find(|&&m| accepts((*ctx, *src, *tag), &self.ops[m])).map(|&m| envelope(m));
                    assert_eq!(
                        *seen, want,
                        "seed {seed}: iprobe at rank {at} (ctx {ctx}, {src:?}, {tag:?}) disagrees with the model"
                    );
                }
                Event::Improbe { at, ctx, src, tag, got } => {
                    let r = &mut ranks[*at];
                    let i = r.unexpected.iter().position(|&m| accepts((*ctx, *src, *tag), &self.ops[m]));
                    let want = i.map(|i| envelope(r.unexpected[i]));
                    assert_eq!(got.map(|g| g.1), want, "seed {seed}: improbe at rank {at} disagrees with the model");
                    if let (Some(i), Some((msg, _))) = (i, got) {
                        let m = r.unexpected.remove(i);
                        r.probed.insert(*msg, m);
                    }
                }
                Event::Mrecv { op, msg } => {
                    let r = &mut ranks[self.ops[*op].rank];
                    let m = r.probed.remove(msg).unwrap_or_else(|| panic!("seed {seed}: mrecv of an unknown message"));
                    matched.insert(*op, (m, *step));
                }
            }
        }
        matched
    }

    /// Compare what the engines delivered with the model. With `quiet`, the
    /// network has drained: every matched operation must be complete.
    pub fn check_against_model(&self, matched: &HashMap<usize, (usize, u64)>, quiet: bool) {
        let seed = self.seed;
        let mut send_matched: HashMap<usize, (usize, u64)> = HashMap::new();
        for (&r, &(s, step)) in matched {
            assert!(send_matched.insert(s, (r, step)).is_none(), "seed {seed}: model matched send {s} twice");
        }
        for (i, op) in self.ops.iter().enumerate() {
            match &op.kind {
                OpKind::Recv { cap, .. } => {
                    let buf = op.buf.bytes();
                    match matched.get(&i) {
                        Some(&(s, _)) => {
                            let OpKind::Send { to, tag, data, .. } = &self.ops[s].kind else { unreachable!() };
                            assert_eq!(*to, op.rank, "seed {seed}: model matched across ranks");
                            let count = data.len().min(*cap);
                            let want = Status {
                                source: self.ops[s].rank as i32,
                                tag: *tag,
                                count,
                                truncated: data.len() > *cap,
                                cancelled: false,
                            };
                            if let Some(st) = op.done {
                                assert_eq!(st, want, "seed {seed}: receive op {i} should have matched send op {s}");
                            } else if quiet && !op.freed {
                                panic!("seed {seed}: receive op {i} matched send op {s} but never completed");
                            }
                            if op.done.is_some() || quiet {
                                assert_eq!(
                                    &buf[..count],
                                    &data[..count],
                                    "seed {seed}: receive op {i} holds wrong bytes (send op {s})"
                                );
                                assert!(
                                    buf[count..].iter().all(|&b| b == SENTINEL),
                                    "seed {seed}: receive op {i} written past its count"
                                );
                            }
                        }
                        None => {
                            if let Some(st) = op.done {
                                assert!(
                                    st.cancelled,
                                    "seed {seed}: receive op {i} completed ({st:?}) but matched nothing in the model"
                                );
                            }
                            assert!(
                                buf.iter().all(|&b| b == SENTINEL),
                                "seed {seed}: unmatched receive op {i} got data"
                            );
                        }
                    }
                }
                OpKind::Send { mode, .. } => match send_matched.get(&i) {
                    Some(&(_, match_step)) => {
                        if quiet && !op.freed {
                            assert!(op.done.is_some(), "seed {seed}: send op {i} matched but never completed");
                        }
                        if *mode == SendMode::Synchronous {
                            if let Some(ds) = op.done_step {
                                assert!(
                                    ds > match_step,
                                    "seed {seed}: synchronous send op {i} completed at step {ds}, before its match at step {match_step}"
                                );
                            }
                        }
                    }
                    None => {
                        let eager = op.envelope == Some(Kind::Eager);
                        if op.done.is_some() {
                            assert!(
                                eager && *mode != SendMode::Synchronous,
                                "seed {seed}: unmatched send op {i} ({mode:?}, {:?}) completed",
                                op.envelope
                            );
                        } else if quiet && eager && *mode != SendMode::Synchronous && !op.freed {
                            panic!("seed {seed}: eager send op {i} still pending on a quiet network");
                        }
                    }
                },
            }
        }
    }

    /// Post wildcard receives for every unexpected message left, until the
    /// network is quiet and nothing is unexpected, then cancel receives
    /// still posted. Returns the final model matching, checked.
    pub fn drain_and_check(&mut self, contexts: &[u32], cap: usize) -> HashMap<usize, (usize, u64)> {
        loop {
            self.run();
            let mut posted = false;
            for r in 0..self.cfg.n {
                for &c in contexts {
                    while self.eng[r].iprobe(c, SrcSel::Any, TagSel::Any).is_some() {
                        self.recv(r, c, SrcSel::Any, TagSel::Any, cap);
                        posted = true;
                    }
                }
            }
            for r in 0..self.cfg.n {
                while let Some(m) = self.probed[r].pop_front() {
                    self.mrecv(r, m, cap).expect("mrecv of a probed message");
                    posted = true;
                }
            }
            if !posted {
                break;
            }
        }
        assert!(self.is_quiet(), "seed {}: network not quiet after draining", self.seed);
        // Every receive still pending must be unmatched and cancellable.
        let pending: Vec<usize> = (0..self.ops.len())
            .filter(|&i| !self.ops[i].is_send() && self.ops[i].done.is_none() && !self.ops[i].freed)
            .collect();
        for op in pending {
            let OpKind::Recv { probed, .. } = self.ops[op].kind else { unreachable!() };
            if probed.is_none() {
                self.cancel(op);
            }
        }
        let m = self.replay_model();
        self.check_against_model(&m, true);
        for (i, op) in self.ops.iter().enumerate() {
            if op.is_send() && !op.freed {
                assert!(op.done.is_some(), "seed {}: send op {i} never completed after draining", self.seed);
            }
        }
        // The engines hold exactly: requests not freed, plus freed receives
        // that never matched nor were cancelled (still posted). Freed
        // requests that completed are gone.
        for r in 0..self.cfg.n {
            let want = self
                .ops
                .iter()
                .enumerate()
                .filter(|(i, o)| o.rank == r && (!o.freed || (!o.is_send() && !m.contains_key(i) && o.done.is_none())))
                .count();
            assert_eq!(self.eng[r].live_requests(), want, "seed {}: live requests at rank {r}", self.seed);
        }
        m
    }
}
