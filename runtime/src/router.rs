//! Per-peer choice of transport, and moving packets between the engine and
//! the transports.
//!
//! Each world rank is reached through exactly one path (itself, shared
//! memory, or TCP), so the engine's reliance on per-peer FIFO order holds.
//! Shared-memory peers are attached at start-up; TCP peers are set up lazily
//! on first send, from the business card the peer published in PMI.

use std::collections::VecDeque;
use std::os::fd::RawFd;

use rmpi_engine::wire::{Header, Kind, FLAG_SINGLE_COPY, HEADER_LEN};
use rmpi_engine::{Action, Engine, PeerCaps, ReqId};
use rmpi_transports::tcp::{PacketSink, TcpTransport, GATHER_FRAMES};
use rmpi_transports::{cma, ofi::OfiTransport, shm::ShmTransport, Transport, TransportError};

use crate::error::{ErrorClass, MpiError, MpiResult};

/// How one peer is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Not contacted yet.
    Unknown,
    /// This rank itself: packets loop back inside the process.
    Loopback,
    Shm,
    Tcp,
    /// libfabric (see `crate::ofi`).
    Ofi,
}

/// The transports of this rank and the route to every peer.
pub struct Router {
    me: u32,
    routes: Vec<Route>,
    pub(crate) shm: Option<ShmTransport>,
    pub(crate) tcp: Option<TcpTransport>,
    pub(crate) ofi: Option<OfiTransport>,
    loopback: VecDeque<Vec<u8>>,
    single_copy: bool,
    scratch: Vec<u32>,
    /// Per peer, the last send that went to it as a rendezvous over TCP.
    last_rts: Vec<Option<ReqId>>,
}

fn transport_err(e: TransportError) -> MpiError {
    MpiError::new(ErrorClass::Other, format!("transport failure: {e}"))
}

impl Router {
    /// A router for rank `me` of `size`.
    pub fn new(me: u32, size: u32, shm: Option<ShmTransport>, tcp: Option<TcpTransport>) -> Router {
        Router {
            me,
            routes: vec![Route::Unknown; size as usize],
            shm,
            tcp,
            ofi: None,
            loopback: VecDeque::new(),
            single_copy: cma::probe(),
            scratch: Vec::new(),
            last_rts: vec![None; size as usize],
        }
    }

    /// Whether `peer` has a route yet.
    pub fn is_routed(&self, peer: u32) -> bool {
        self.routes[peer as usize] != Route::Unknown
    }

    /// Record that `peer` is reached through shared memory (already attached).
    pub fn set_shm(&mut self, engine: &mut Engine, peer: u32) {
        if let Some(shm) = &self.shm {
            let c = shm.caps();
            engine.set_peer_caps(
                peer,
                PeerCaps { max_packet: c.max_packet, eager_limit: c.eager_limit, single_copy: c.single_copy },
            );
            // Cross-memory attach works both ways between ranks of one user.
            engine.set_peer_split(peer, c.single_copy);
            self.routes[peer as usize] = Route::Shm;
        }
    }

    /// Use `ofi` for the peers [`Router::route_ofi`] is given.
    pub fn set_ofi(&mut self, ofi: Option<OfiTransport>) {
        self.ofi = ofi;
    }

    /// Whether ofi is open (then [`Router::route_ofi`] may route peers).
    pub fn has_ofi(&self) -> bool {
        self.ofi.is_some()
    }

    /// Route `peer` through ofi with its business card. `Ok(false)` when
    /// the card is of another provider (the caller falls back to TCP).
    pub fn route_ofi(&mut self, engine: &mut Engine, peer: u32, card: &str) -> MpiResult<bool> {
        let Some(ofi) = self.ofi.as_mut() else { return Ok(false) };
        match ofi.add_peer(peer, card) {
            Ok(()) => {}
            Err(TransportError::BadCard(_)) if self.tcp.is_some() => return Ok(false),
            Err(e) => return Err(transport_err(e)),
        }
        let c = ofi.caps();
        let single_copy = ofi.rma_read_capable();
        engine.set_peer_caps(peer, PeerCaps { max_packet: c.max_packet, eager_limit: c.eager_limit, single_copy });
        self.routes[peer as usize] = Route::Ofi;
        Ok(true)
    }

    /// Make sure `peer` has a route; `card` fetches a TCP business card.
    pub fn ensure(
        &mut self,
        engine: &mut Engine,
        peer: u32,
        same_node: bool,
        card: &mut dyn FnMut(u32) -> MpiResult<String>,
    ) -> MpiResult<()> {
        if self.routes[peer as usize] != Route::Unknown {
            return Ok(());
        }
        if peer == self.me {
            engine.set_peer_caps(
                peer,
                PeerCaps { max_packet: 1 << 20, eager_limit: 64 << 10, single_copy: self.single_copy },
            );
            self.routes[peer as usize] = Route::Loopback;
            return Ok(());
        }
        let Some(tcp) = self.tcp.as_mut() else {
            return Err(MpiError::new(ErrorClass::Intern, format!("no transport reaches rank {peer}")));
        };
        let c = card(peer)?;
        tcp.add_peer(peer, &c, same_node).map_err(transport_err)?;
        let caps = tcp.caps();
        engine.set_peer_caps(
            peer,
            PeerCaps { max_packet: caps.max_packet, eager_limit: caps.eager_limit, single_copy: false },
        );
        self.routes[peer as usize] = Route::Tcp;
        Ok(())
    }

    /// Deliver every arrived packet to the engine and perform its actions.
    /// Returns the number of packets handled.
    pub fn poll(&mut self, engine: &mut Engine) -> MpiResult<usize> {
        let mut n = 0;
        let mut fault = None;
        {
            let mut deliver = |from: u32, pkt: &[u8]| {
                if let Err(e) = engine.on_packet(from, pkt) {
                    fault.get_or_insert(e);
                }
            };
            while let Some(pkt) = self.loopback.pop_front() {
                deliver(self.me, &pkt);
                n += 1;
            }
            if let Some(shm) = self.shm.as_mut() {
                n += shm.poll(&mut deliver).map_err(transport_err)?;
            }
            if let Some(ofi) = self.ofi.as_mut() {
                // A Fin or Cts answers an Rts: the sender's buffer need no
                // longer be exposed for reading.
                let mut answered = Vec::new();
                let mut deliver_ofi = |from: u32, pkt: &[u8]| {
                    if let Some(h) = Header::decode(pkt).filter(|h| matches!(h.kind, Kind::Fin | Kind::Cts)) {
                        answered.push((from, h.a));
                    }
                    deliver(from, pkt)
                };
                let r = ofi.poll(&mut deliver_ofi);
                for (from, sreq) in answered {
                    ofi.unexpose(from, sreq);
                }
                match r {
                    Ok(k) => n += k,
                    // As for TCP: the launcher ends the job if the peer died.
                    Err(TransportError::PeerGone { .. }) => n += 1,
                    Err(e) => return Err(transport_err(e)),
                }
            }
        }
        if let Some(tcp) = self.tcp.as_mut() {
            // Rendezvous data is read straight into the receive buffer.
            match tcp.poll_placing(&mut EngineSink { engine, fault: &mut fault }) {
                Ok(k) => n += k,
                // A peer that closed its end has finished (or died, and
                // the launcher ends the job); sending to it will fail.
                Err(TransportError::PeerGone { .. }) => n += 1,
                Err(e) => return Err(transport_err(e)),
            }
        }
        if let Some(e) = fault {
            return Err(MpiError::new(ErrorClass::Intern, e.to_string()));
        }
        while let Some(action) = engine.next_action() {
            n += 1;
            match action {
                Action::SingleCopyRead { req, peer, pid, addr, offset, mut len } => {
                    if self.routes[peer as usize] == Route::Ofi {
                        // Over ofi `pid` is the memory key the sender's transport offered.
                        let ofi = self.ofi.as_mut().expect("ofi route");
                        match engine.recv_buffer(req) {
                            Some(mut buf) => {
                                let b = buf.range_mut(offset, offset + len);
                                // SAFETY: the engine leaves the receive buffer alone
                                // until single_copy_done, called when the read ends.
                                unsafe { ofi.read(peer, b.as_mut_ptr(), b.len(), addr, pid, req.0) };
                            }
                            None => engine.single_copy_done(req, false),
                        }
                        continue;
                    }
                    // A split copy's `Split` waits in the queue: send it
                    // first, so that the sender writes while this side reads.
                    // A sender asleep would be woken for its part: read it
                    // all instead (its `Split` has not left yet).
                    if self.routes[peer as usize] == Route::Shm {
                        if offset == 0 && self.shm.as_ref().is_some_and(|s| s.peer_sleeps(peer)) {
                            if let Some(Action::SingleCopyRead { len: whole, .. }) = engine.unsplit(req) {
                                len = whole;
                            }
                        }
                        self.flush_peer(engine, peer)?;
                    }
                    let ok = match engine.recv_buffer(req) {
                        Some(mut buf) => {
                            let b = buf.range_mut(offset, offset + len);
                            b.len() == len && cma::read_remote(pid as i32, addr as usize, b).is_ok()
                        }
                        None => false,
                    };
                    engine.single_copy_done(req, ok);
                }
                Action::SingleCopyWrite { req, peer, pid, addr, offset, len } => {
                    let ok = match engine.send_buffer(req) {
                        Some(buf) if offset + len <= buf.len() => {
                            cma::write_remote(pid as i32, addr as usize, buf.slice(offset, offset + len)).is_ok()
                        }
                        _ => false,
                    };
                    engine.single_copy_write_done(req, ok);
                    // `Wrote` at once: the receiver may be waiting for it alone.
                    self.flush_peer(engine, peer)?;
                }
            }
        }
        if let Some(ofi) = self.ofi.as_mut() {
            for (token, ok) in ofi.take_reads_done() {
                engine.single_copy_done(ReqId(token), ok);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Hand the engine's waiting packets to the transports until they are
    /// all sent or the transports push back. Returns packets sent.
    pub fn flush(&mut self, engine: &mut Engine) -> MpiResult<usize> {
        let mut sent = 0;
        self.scratch.clear();
        self.scratch.extend(engine.busy_peers());
        for i in 0..self.scratch.len() {
            let peer = self.scratch[i];
            if self.routes[peer as usize] == Route::Tcp && gather_tcp() > 0 {
                sent += self.flush_tcp(engine, peer)?;
                continue;
            }
            sent += self.flush_peer(engine, peer)?;
        }
        Ok(sent)
    }

    /// Hand the engine's waiting packets for `peer` to its transport until
    /// they are all sent or it pushes back. Returns packets sent.
    pub fn flush_peer(&mut self, engine: &mut Engine, peer: u32) -> MpiResult<usize> {
        let mut sent = 0;
        while let Some(t) = engine.next_transmit(peer) {
            let r = match self.routes[peer as usize] {
                Route::Loopback => {
                    let mut v = Vec::with_capacity(t.header().len() + t.payload().len());
                    v.extend_from_slice(t.header());
                    v.extend_from_slice(t.payload());
                    self.loopback.push_back(v);
                    Ok(())
                }
                Route::Shm => self.shm.as_mut().expect("shm route").try_send(peer, &[t.header(), t.payload()]),
                Route::Tcp => self.tcp.as_mut().expect("tcp route").try_send(peer, &[t.header(), t.payload()]),
                Route::Ofi => {
                    let ofi = self.ofi.as_mut().expect("ofi route");
                    if t.header().len() == HEADER_LEN {
                        let mut h = [0u8; HEADER_LEN];
                        h.copy_from_slice(t.header());
                        offer_ofi_read(ofi, peer, &mut h);
                        ofi.try_send(peer, &[&h, t.payload()])
                    } else {
                        // A short eager header: nothing to offer.
                        ofi.try_send(peer, &[t.header(), t.payload()])
                    }
                }
                Route::Unknown => {
                    return Err(MpiError::new(ErrorClass::Intern, format!("packet for unrouted rank {peer}")))
                }
            };
            match r {
                Ok(()) => {
                    engine.transmit_done(peer);
                    sent += 1;
                }
                Err(TransportError::WouldBlock) => break,
                Err(e) => return Err(transport_err(e)),
            }
        }
        Ok(sent)
    }

    /// Whether the `Rts` of send `rid` to `peer`, just posted, may wait for
    /// the next progress step instead of going out now: when an earlier
    /// rendezvous send to the same TCP peer is still pending, as in a window
    /// of nonblocking sends, whose `Rts` then go out gathered, several to a
    /// write, at the wait (a burst of one-packet writes costs the sender a
    /// system call and the kernel's sending and receiving work each). The
    /// first of a run goes at once, so a lone `MPI_Isend` starts its
    /// handshake as before.
    pub fn defer_rts(&mut self, engine: &Engine, peer: u32, rid: ReqId) -> bool {
        if self.routes[peer as usize] != Route::Tcp || gather_tcp() == 0 || !engine.awaits_reply(rid) {
            return false;
        }
        let earlier = self.last_rts[peer as usize].replace(rid);
        defer_rts_on() && earlier.is_some_and(|r| engine.status(r) == Ok(None))
    }

    /// [`Router::flush`] for a TCP peer: the small packets waiting for it
    /// go several to a write (`TcpTransport::try_send_batch`, at most
    /// [`gather_tcp`] bytes behind the first), so a burst of `Rts` or `Cts`
    /// costs one system call and one pass of the kernel's sending work
    /// rather than one per packet; a large `Data` chunk goes alone.
    fn flush_tcp(&mut self, engine: &mut Engine, peer: u32) -> MpiResult<usize> {
        let tcp = self.tcp.as_mut().expect("tcp route");
        let mut sent = 0;
        loop {
            let mut ts: [Option<rmpi_engine::Transmit<'_>>; GATHER_FRAMES] = std::array::from_fn(|_| None);
            let (mut n, mut bytes) = (0, 0);
            while n < GATHER_FRAMES {
                let Some(t) = engine.peek_transmit(peer, n) else { break };
                let len = t.header().len() + t.payload().len();
                if n > 0 && bytes + len > gather_tcp() {
                    break;
                }
                bytes += len;
                ts[n] = Some(t);
                n += 1;
            }
            if n == 0 {
                return Ok(sent);
            }
            let parts: [[&[u8]; 2]; GATHER_FRAMES] =
                std::array::from_fn(|k| ts[k].as_ref().map_or([&[][..], &[][..]], |t| [t.header(), t.payload()]));
            let packets: [&[&[u8]]; GATHER_FRAMES] = std::array::from_fn(|k| &parts[k][..]);
            let taken = match tcp.try_send_batch(peer, &packets[..n]) {
                Ok(k) => k,
                Err(TransportError::WouldBlock) => 0,
                Err(e) => return Err(transport_err(e)),
            };
            for _ in 0..taken {
                engine.transmit_done(peer);
            }
            sent += taken;
            if taken < n {
                return Ok(sent);
            }
        }
    }

    /// Hand one packet straight to `peer`'s transport (the engine's queue
    /// for it is empty). Returns false if the transport has no room now.
    pub fn try_send_now(&mut self, peer: u32, header: &[u8], payload: &[u8]) -> MpiResult<bool> {
        let r = match self.routes[peer as usize] {
            Route::Shm => self.shm.as_mut().expect("shm route").try_send(peer, &[header, payload]),
            Route::Tcp => self.tcp.as_mut().expect("tcp route").try_send(peer, &[header, payload]),
            // Inline sends are small eager messages: no read to offer.
            Route::Ofi => self.ofi.as_mut().expect("ofi route").try_send(peer, &[header, payload]),
            Route::Loopback => {
                let mut v = Vec::with_capacity(header.len() + payload.len());
                v.extend_from_slice(header);
                v.extend_from_slice(payload);
                self.loopback.push_back(v);
                Ok(())
            }
            Route::Unknown => return Ok(false),
        };
        match r {
            Ok(()) => Ok(true),
            Err(TransportError::WouldBlock) => Ok(false),
            Err(e) => Err(transport_err(e)),
        }
    }

    /// Whether a transport still holds bytes it has not written (a rank
    /// must not close its connections then).
    pub fn has_pending_writes(&self) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.has_pending_writes())
            || self.ofi.as_ref().is_some_and(|t| t.has_pending_writes())
    }

    /// False only if polling would certainly deliver nothing: no loopback
    /// packet, no shared-memory record, and no socket or fabric transport
    /// (those are always polled).
    #[inline]
    pub fn may_have_input(&mut self) -> bool {
        !self.loopback.is_empty()
            || self.tcp.is_some()
            || self.ofi.is_some()
            || self.shm.as_mut().is_some_and(|s| s.has_input())
    }

    /// [`Router::may_have_input`], leaving out shared-memory `peer`'s ring.
    pub fn may_have_input_besides(&mut self, peer: u32) -> bool {
        !self.loopback.is_empty()
            || self.tcp.is_some()
            || self.ofi.is_some()
            || self.shm.as_mut().is_some_and(|s| s.has_input_besides(peer))
    }

    /// The shared-memory transport when `peer` is reached through it.
    #[inline]
    pub fn shm_of(&mut self, peer: u32) -> Option<&mut ShmTransport> {
        if self.routes.get(peer as usize) == Some(&Route::Shm) {
            self.shm.as_mut()
        } else {
            None
        }
    }

    /// Whether loopback packets are waiting (then sleeping is wrong).
    pub fn has_loopback(&self) -> bool {
        !self.loopback.is_empty()
    }

    /// Announce sleep to every transport; false if work is pending.
    pub fn prepare_sleep(&mut self) -> bool {
        let mut ok = self.loopback.is_empty();
        if let Some(s) = self.shm.as_mut() {
            ok &= s.prepare_sleep();
        }
        if let Some(t) = self.tcp.as_mut() {
            ok &= t.prepare_sleep();
        }
        if let Some(t) = self.ofi.as_mut() {
            ok &= t.prepare_sleep();
        }
        ok
    }

    /// The descriptors a sleep waits on.
    pub fn wait_fds(&self, out: &mut Vec<RawFd>) {
        if let Some(s) = self.shm.as_ref() {
            s.wait_fds(out);
        }
        if let Some(t) = self.tcp.as_ref() {
            t.wait_fds(out);
        }
        if let Some(t) = self.ofi.as_ref() {
            t.wait_fds(out);
        }
    }

    /// End a sleep.
    pub fn end_sleep(&mut self) {
        if let Some(s) = self.shm.as_mut() {
            s.end_sleep();
        }
        if let Some(t) = self.tcp.as_mut() {
            t.end_sleep();
        }
        if let Some(t) = self.ofi.as_mut() {
            t.end_sleep();
        }
    }

    /// Traffic counters per transport, for tests and diagnostics.
    pub fn counters(&self) -> Vec<(&'static str, rmpi_transports::Counters)> {
        let mut v = Vec::new();
        if let Some(s) = self.shm.as_ref() {
            v.push(("shm", s.counters()));
        }
        if let Some(t) = self.tcp.as_ref() {
            v.push(("tcp", t.counters()));
        }
        if let Some(t) = self.ofi.as_ref() {
            v.push(("ofi", t.counters()));
        }
        v
    }
}

/// An `Rts` offering a single-copy read goes over ofi with the memory key
/// and remote address of the sender's buffer (exposed for reading) in place
/// of the pid and address the engine wrote; if exposing fails, the offer is
/// withdrawn and the receiver answers `Cts` as usual.
/// The engine as the TCP transport's packet sink: packets go to
/// `on_packet`; the payload of a `Data` packet straight into its receive
/// buffer (`data_target`, then `on_data_placed`).
struct EngineSink<'a> {
    engine: &'a mut Engine,
    fault: &'a mut Option<rmpi_engine::EngineError>,
}

impl PacketSink for EngineSink<'_> {
    fn deliver(&mut self, from: u32, pkt: &[u8]) {
        if let Err(e) = self.engine.on_packet(from, pkt) {
            self.fault.get_or_insert(e);
        }
    }

    fn prefix_len(&self) -> Option<usize> {
        Some(HEADER_LEN)
    }

    fn target(&mut self, _from: u32, prefix: &[u8], payload_len: usize) -> Option<*mut u8> {
        self.engine.data_target(prefix, payload_len)
    }

    fn placed(&mut self, from: u32, prefix: &[u8]) {
        if let Err(e) = self.engine.on_data_placed(from, prefix) {
            self.fault.get_or_insert(e);
        }
    }
}

/// `RMPI_TCP_DEFER_RTS=0`: every `Rts` goes out when its send is posted.
fn defer_rts_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("RMPI_TCP_DEFER_RTS").map_or(true, |v| v.trim() != "0"))
}

/// Default of [`gather_tcp`]: control packets and small messages go
/// together, large `Data` chunks one to a write (gathering several 256 KiB
/// chunks into one write measured 0.6 of the bandwidth of one each).
const GATHER_BYTES: usize = 64 << 10;

/// `RMPI_TCP_GATHER`: a gathered TCP write takes further packets while
/// they add up to at most this many bytes (default [`GATHER_BYTES`]; 0:
/// one packet per write).
fn gather_tcp() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        std::env::var("RMPI_TCP_GATHER").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(GATHER_BYTES)
    })
}

fn offer_ofi_read(ofi: &mut OfiTransport, peer: u32, h: &mut [u8; HEADER_LEN]) {
    let Some(mut hd) = Header::decode(h) else { return };
    if hd.kind != Kind::Rts || hd.flags & FLAG_SINGLE_COPY == 0 {
        return;
    }
    // An empty message (an Rts for want of credit) has nothing to read.
    let exposed = if hd.len == 0 { Err(()) } else { ofi.expose(peer, hd.a, hd.c, hd.len).map_err(|_| ()) };
    match exposed {
        Ok((addr, key)) => {
            hd.b = key;
            hd.c = addr;
        }
        Err(()) => hd.flags &= !FLAG_SINGLE_COPY,
    }
    *h = hd.encode();
}
