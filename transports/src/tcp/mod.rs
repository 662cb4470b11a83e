//! TCP transport: between nodes, or between all ranks when the runtime
//! forces TCP.
//!
//! One connection per pair, used both ways, so that answers carry the
//! acknowledgements of what they answer (one TCP segment per message in a
//! ping-pong, not a data segment and a pure ACK). At its first `try_send`
//! to B, rank A sends on the authenticated connection B opened to A, if
//! there is one, and otherwise opens its own (lazily); the reading side of
//! that outgoing connection (a duplicate descriptor) joins the incoming
//! ones, since B may answer on it. If both opened one at once, the lower
//! rank's connection wins: the higher rank, at a send with nothing pending
//! on its own, shuts that one down for writing and uses the lower rank's
//! from then on, and the lower rank holds back what arrives from it on its
//! own connection until the other one has ended. Per direction, order is
//! the order of one stream, then of the next. Every accepted connection must first prove
//! the per-job secret, and the acceptor proves it back (see `tcp/handshake.rs`).
//! Until the connector's proof checks out nothing from it is delivered; a
//! failed or slow (over [`DEFAULT_HANDSHAKE_TIMEOUT`]) handshake drops the
//! connection (counted in [`TcpTransport::rejected_connections`]) while the
//! job goes on. The connector sends frames only after the acceptor's proof,
//! so an attempt dropped before that (say the sender was computing and did
//! not poll in time) is retried transparently, up to
//! [`MAX_ATTEMPTS_PER_ADDRESS`] times per advertised address.
//!
//! Frames are a 4-byte little-endian length plus the packet. Sockets are
//! nonblocking with `TCP_NODELAY`; `try_send` writes directly when nothing
//! is pending and otherwise queues into a bounded per-peer buffer
//! ([`DEFAULT_OUT_BYTES`]) that `poll` flushes; a full buffer answers
//! `WouldBlock`, and so does a packet of 64 KiB or more that would have to
//! be copied there (behind pending bytes, or when the socket takes none of
//! it): the caller keeps it and offers it again. [`TcpTransport::poll_placing`]
//! reads large payloads straight into the receiver's buffer.
//!
//! Readiness: the listener, every incoming connection and every outgoing
//! connection still in its handshake sit in one level-triggered epoll set;
//! `poll` asks it which are ready (one system call) and reads only those.
//! [`Transport::wait_fds`] is that single epoll fd. Sleeping:
//! [`Transport::prepare_sleep`] returns `false` while some connection has
//! unwritten bytes that need `POLLOUT` (frames on an established
//! connection, a partly written hello), which a readability wait cannot
//! express; a connection waiting for the peer's handshake bytes needs only
//! readability and does not prevent sleep. Before dropping the transport,
//! poll until [`TcpTransport::has_pending_writes`] is `false`, or queued
//! packets are lost.
//!
//! A clean end of stream on an incoming connection (the peer dropped its
//! transport) closes it quietly; an error, or an end inside a frame, is
//! reported as `PeerGone` from `poll`. A failed outgoing connection makes
//! `try_send`/`poll` answer `PeerGone` for that peer from then on.
//!
//! Card format: `tcp1,<port>,<ipv4>[,<ipv4>...]`, loopback first.

mod card;
mod conn;
mod epoll;
mod handshake;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::{Caps, Counters, Rank, Transport, TransportError};
pub use conn::PacketSink;
use conn::{Deliver, InEvent, Incoming, OutProgress, OutState, Outgoing, FRAME_HEADER};
use epoll::Readiness;

/// Readiness token of the listener.
const LISTENER_TOKEN: u64 = u64::MAX;
/// Readiness tokens of outgoing connections: this tag | peer rank. Incoming
/// connections use their slot index (below the tag).
const OUT_TAG: u64 = 1 << 40;

/// Most frames [`TcpTransport::try_send_batch`] gathers into one `sendmsg`.
pub const GATHER_FRAMES: usize = 16;
/// Default largest packet (`RMPI_TCP_MAX_PACKET`).
pub const DEFAULT_MAX_PACKET: usize = 1 << 20;
/// Suggested eager limit for TCP.
pub const EAGER_LIMIT: usize = 64 * 1024;
/// Bound of the per-peer outgoing buffer (a single packet is always
/// accepted into an empty buffer).
pub const DEFAULT_OUT_BYTES: usize = 4 << 20;
/// Default time an accepted connection has to complete its handshake (and
/// half the time an outgoing one has to connect and get the nonce).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Packets from this size on are not copied into the outgoing buffer
/// behind pending bytes (nor when the socket takes none of them): `try_send`
/// answers `WouldBlock` and the caller offers them again.
const DIRECT_MIN: usize = 64 << 10;
/// Socket buffer sizes requested (the kernel may clamp them).
const SOCKET_BUFFER: usize = 4 << 20;
/// Accepted connections allowed to be mid-handshake at once; beyond that
/// the oldest is dropped.
const MAX_PENDING_HANDSHAKES: usize = 64;
/// Connection attempts to one address that may end before the handshake
/// completes (refused, or closed by the acceptor) before the next address
/// is tried.
pub const MAX_ATTEMPTS_PER_ADDRESS: u32 = 5;

/// How to build a [`TcpTransport`].
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// This rank (world rank).
    pub rank: Rank,
    /// Job id; both ends of a connection must agree on it.
    pub job: String,
    /// Per-job secret from the launcher; every connection proves it.
    pub secret: Vec<u8>,
    /// Listen on 127.0.0.1 only and advertise only it.
    pub loopback_only: bool,
}

/// A peer we may send to.
struct Peer {
    addrs: Vec<SocketAddrV4>,
    /// Next entry of `addrs` to try.
    next_addr: usize,
    /// Failed attempts on the current address.
    attempts: u32,
    conn: Option<Outgoing>,
    /// Instead of `conn`: the slot of the authenticated connection the
    /// peer opened to us, which we send on too (chosen at the first send
    /// when that connection exists; then kept for good).
    via_in: Option<usize>,
    /// Why the peer became unreachable, once it did (never cleared).
    gone: Option<String>,
}

/// TCP transport. See the module docs.
pub struct TcpTransport {
    caps: Caps,
    rank: Rank,
    job: String,
    secret: Vec<u8>,
    listener: TcpListener,
    card: String,
    peers: HashMap<Rank, Peer>,
    /// Incoming connections by slot (the slot is their readiness token).
    incoming: Vec<Option<Incoming>>,
    free_slots: Vec<usize>,
    readiness: Readiness,
    ready: Vec<u64>,
    /// Ranks with an authenticated incoming connection.
    inbound_srcs: HashSet<Rank>,
    handshake_timeout: Duration,
    out_bytes: usize,
    max_frame: usize,
    counters: Counters,
    rejected: u64,
}

fn io_err(op: &'static str) -> impl FnOnce(std::io::Error) -> TransportError {
    move |e| TransportError::io(op, e)
}

/// Socket buffer size to request: `RMPI_TCP_SOCKBUF` bytes (0: leave the
/// kernel's autotuning alone), else [`SOCKET_BUFFER`].
fn socket_buffer() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        std::env::var("RMPI_TCP_SOCKBUF").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(SOCKET_BUFFER)
    })
}

fn tune(sock: &Socket) {
    let _ = sock.set_nodelay(true);
    let size = socket_buffer();
    if size > 0 {
        let _ = sock.set_send_buffer_size(size);
        let _ = sock.set_recv_buffer_size(size);
    }
}

impl TcpTransport {
    /// Bind the nonblocking listener on an ephemeral port (0.0.0.0, or
    /// 127.0.0.1 when `loopback_only`). `max_packet` comes from
    /// `RMPI_TCP_MAX_PACKET` (default [`DEFAULT_MAX_PACKET`]).
    pub fn bind(cfg: TcpConfig) -> Result<Self, TransportError> {
        let max_packet = match std::env::var("RMPI_TCP_MAX_PACKET") {
            Ok(v) => v.trim().parse::<usize>().map_err(|_| {
                TransportError::io(
                    "tcp config",
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("RMPI_TCP_MAX_PACKET={v} is not a number"),
                    ),
                )
            })?,
            Err(_) => DEFAULT_MAX_PACKET,
        }
        .clamp(1024, u32::MAX as usize / 2);
        let ip = if cfg.loopback_only { Ipv4Addr::LOCALHOST } else { Ipv4Addr::UNSPECIFIED };
        let sock = Socket::new(Domain::IPV4, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))
            .map_err(io_err("tcp socket"))?;
        tune(&sock);
        sock.bind(&SocketAddr::from((ip, 0)).into()).map_err(io_err("tcp bind"))?;
        sock.listen(1024).map_err(io_err("tcp listen"))?;
        let listener: TcpListener = sock.into();
        let port = listener.local_addr().map_err(io_err("tcp local_addr"))?.port();
        let readiness = Readiness::new().map_err(io_err("epoll_create"))?;
        readiness.add(listener.as_raw_fd(), LISTENER_TOKEN).map_err(io_err("epoll_ctl"))?;
        let card = card::format_card(port, &card::advertised_addrs(cfg.loopback_only)?);
        Ok(TcpTransport {
            caps: Caps { name: "tcp", max_packet, eager_limit: EAGER_LIMIT.min(max_packet), single_copy: false },
            rank: cfg.rank,
            job: cfg.job,
            secret: cfg.secret,
            listener,
            card,
            peers: HashMap::new(),
            incoming: Vec::new(),
            free_slots: Vec::new(),
            readiness,
            ready: Vec::new(),
            inbound_srcs: HashSet::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            out_bytes: DEFAULT_OUT_BYTES.max(2 * (max_packet + FRAME_HEADER)),
            max_frame: max_packet.max(DEFAULT_MAX_PACKET),
            counters: Counters::default(),
            rejected: 0,
        })
    }

    /// Listening addresses for peers: `tcp1,<port>,<ipv4>[,<ipv4>...]`.
    pub fn card(&self) -> String {
        self.card.clone()
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Remember how to reach `peer`; nothing is connected until the first
    /// `try_send`. With `same_node`, 127.0.0.1 is preferred. Adding a peer
    /// again replaces its card unless a connection already exists.
    pub fn add_peer(&mut self, peer: Rank, card: &str, same_node: bool) -> Result<(), TransportError> {
        let (port, ips) = card::parse_card(card)?;
        let mut order: Vec<Ipv4Addr> = Vec::new();
        if same_node {
            order.extend(ips.iter().filter(|a| a.is_loopback()));
        }
        order.extend(ips.iter().filter(|a| !a.is_loopback()));
        if order.is_empty() {
            // A loopback-only peer: it must be on this node.
            order.extend(ips.iter().copied());
        }
        let addrs = order.into_iter().map(|ip| SocketAddrV4::new(ip, port)).collect();
        if let Some(p) = self.peers.get(&peer) {
            if p.conn.is_some() || p.via_in.is_some() || p.gone.is_some() {
                return Ok(());
            }
        }
        self.peers.insert(peer, Peer { addrs, next_addr: 0, attempts: 0, conn: None, via_in: None, gone: None });
        Ok(())
    }

    /// Open connections: outgoing ones we send on plus authenticated ones
    /// peers opened to us (with both ends sending first at once, a pair
    /// has two until the higher rank hands over to the lower rank's).
    pub fn connections(&self) -> usize {
        self.peers.values().filter(|p| p.conn.is_some()).count()
            + self.incoming.iter().flatten().filter(|c| !c.reader_only && c.src().is_some()).count()
    }

    /// Incoming connections dropped because they failed (or did not finish)
    /// the handshake, or duplicated an authenticated one.
    pub fn rejected_connections(&self) -> u64 {
        self.rejected
    }

    /// How long an accepted connection may take to prove the secret.
    pub fn set_handshake_timeout(&mut self, t: Duration) {
        self.handshake_timeout = t;
    }

    /// Whether any sent packet is still (partly) in our buffers, whatever
    /// the connection state. Poll until this is `false` before dropping the
    /// transport, or queued packets are lost.
    pub fn has_pending_writes(&self) -> bool {
        self.peers.values().any(|p| p.conn.as_ref().is_some_and(|c| !c.out.is_empty()))
            || self.incoming.iter().flatten().any(|c| c.src().is_some() && !c.out.is_empty())
    }

    /// Whether finishing some write needs `POLLOUT` (then the rank must not
    /// sleep on `wait_fds`).
    fn needs_pollout(&self) -> bool {
        self.peers.values().any(|p| p.conn.as_ref().is_some_and(|c| c.needs_write()))
    }

    /// Start a connection attempt to `peer`, keeping the `queued` frames:
    /// to the same address again when `retry_same` (and it has not failed
    /// [`MAX_ATTEMPTS_PER_ADDRESS`] times yet), else to the next address.
    /// Marks the peer gone when no address is left.
    fn connect_next(
        &mut self,
        peer: Rank,
        queued: conn::OutBuf,
        why: Option<String>,
        retry_same: bool,
    ) -> Result<(), TransportError> {
        let p = self.peers.get_mut(&peer).ok_or(TransportError::UnknownPeer(peer))?;
        let mut last = why;
        if retry_same && p.next_addr > 0 {
            p.attempts += 1;
            if p.attempts < MAX_ATTEMPTS_PER_ADDRESS {
                p.next_addr -= 1;
            }
        }
        while p.next_addr < p.addrs.len() {
            let addr = SocketAddr::V4(p.addrs[p.next_addr]);
            p.next_addr += 1;
            if !retry_same {
                p.attempts = 0;
            }
            let sock = Socket::new(Domain::IPV4, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))
                .map_err(io_err("tcp socket"))?;
            tune(&sock);
            match sock.connect(&addr.into()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => {
                    last = Some(format!("connect to {addr}: {e}"));
                    continue;
                }
            }
            if let Err(e) = self.readiness.add(sock.as_raw_fd(), OUT_TAG | peer as u64) {
                last = Some(format!("epoll_ctl: {e}"));
                continue;
            }
            p.conn = Some(Outgoing::new(sock, addr, queued));
            return Ok(());
        }
        let reason = last.unwrap_or_else(|| "no address to connect to".into());
        p.conn = None;
        p.gone = Some(reason.clone());
        Err(TransportError::PeerGone { peer, reason })
    }

    /// Advance the outgoing connection to `peer`.
    fn progress_out(&mut self, peer: Rank) -> Result<(), TransportError> {
        let (me, job, secret) = (self.rank, &self.job, &self.secret);
        let Some(p) = self.peers.get_mut(&peer) else { return Ok(()) };
        let Some(c) = p.conn.as_mut() else { return Ok(()) };
        match c.progress(me, peer, job, secret) {
            OutProgress::Ok => {
                if matches!(c.state, OutState::Established) && c.watched {
                    // From now on the peer may answer on this connection:
                    // its reading side joins the incoming ones.
                    self.readiness.remove(c.sock.as_raw_fd());
                    c.watched = false;
                    p.attempts = 0;
                    let reader = c.sock.try_clone();
                    return match reader {
                        Ok(sock) => match self.add_incoming(Incoming::established_reader(sock, peer)) {
                            Ok(()) => Ok(()),
                            Err(e) => Err(self.break_peer(peer, format!("epoll_ctl: {e}"))),
                        },
                        Err(e) => Err(self.break_peer(peer, format!("dup: {e}"))),
                    };
                }
                Ok(())
            }
            OutProgress::Retry(why) => {
                let queued = p.conn.take().expect("connection").into_queued();
                self.connect_next(peer, queued, Some(why), true)
            }
            OutProgress::WrongPeer(why) => {
                let queued = p.conn.take().expect("connection").into_queued();
                self.connect_next(peer, queued, Some(why), false)
            }
            OutProgress::Broken(reason) => {
                p.conn = None;
                p.gone = Some(reason.clone());
                Err(TransportError::PeerGone { peer, reason })
            }
        }
    }

    /// Drop the connection to `peer` for good; the error to report.
    fn break_peer(&mut self, peer: Rank, reason: String) -> TransportError {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.conn = None;
            p.via_in = None;
            p.gone = Some(reason.clone());
        }
        TransportError::PeerGone { peer, reason }
    }

    /// Put `c` in a free incoming slot and watch it.
    fn add_incoming(&mut self, c: Incoming) -> std::io::Result<()> {
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.incoming.push(None);
            self.incoming.len() - 1
        });
        if let Err(e) = self.readiness.add(c.sock.as_raw_fd(), slot as u64) {
            self.free_slots.push(slot);
            return Err(e);
        }
        self.incoming[slot] = Some(c);
        Ok(())
    }

    /// Whether incoming slot `i` must not be read yet: the reading side of
    /// our connection to a higher rank that also opened one to us, which it
    /// is still sending on. That rank hands over to ours (see `try_send`)
    /// only after ending its own: what it sends on ours must wait until
    /// everything it sent on its own has been read.
    fn held_back(&self, i: usize) -> bool {
        self.incoming[i].as_ref().is_some_and(|c| {
            c.reader_only && c.src().is_some_and(|src| src > self.rank && self.inbound_srcs.contains(&src))
        })
    }

    /// The slot of an authenticated connection `peer` opened to us, if any.
    fn inbound_from(&self, peer: Rank) -> Option<usize> {
        if !self.inbound_srcs.contains(&peer) {
            return None;
        }
        self.incoming.iter().position(|c| c.as_ref().is_some_and(|c| !c.reader_only && c.src() == Some(peer)))
    }

    /// `try_send` on the connection `peer` opened to us (slot `i`).
    fn send_via_incoming(&mut self, peer: Rank, i: usize, parts: &[&[u8]], len: usize) -> Result<(), TransportError> {
        let out_bytes = self.out_bytes;
        let large = len >= DIRECT_MIN;
        let Some(c) = self.incoming[i].as_mut() else {
            return Err(self.break_peer(peer, "connection closed".into()));
        };
        if !c.out.is_empty() && (large || c.out.len() + FRAME_HEADER + len > out_bytes) {
            // Try to make room first.
            if let Err(e) = c.out.flush(&c.sock) {
                return Err(self.break_peer(peer, e.to_string()));
            }
            if !c.out.is_empty() && (large || c.out.len() + FRAME_HEADER + len > out_bytes) {
                return Err(TransportError::WouldBlock);
            }
        }
        if c.out.is_empty() {
            match conn::send_frame(&c.sock, &mut c.out, parts, len, large) {
                Ok(true) => {}
                Ok(false) => return Err(TransportError::WouldBlock),
                Err(e) => return Err(self.break_peer(peer, e.to_string())),
            }
        } else {
            conn::queue_frame(&mut c.out, parts, len);
        }
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += len as u64;
        Ok(())
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let sock = Socket::from(stream);
                    if sock.set_nonblocking(true).is_err() {
                        self.rejected += 1;
                        continue;
                    }
                    tune(&sock);
                    let pending = self.incoming.iter().flatten().filter(|c| c.src().is_none()).count();
                    if pending >= MAX_PENDING_HANDSHAKES {
                        // Drop the oldest connection still in its handshake.
                        let oldest = (0..self.incoming.len())
                            .filter(|&i| self.incoming[i].as_ref().is_some_and(|c| c.src().is_none()))
                            .min_by_key(|&i| self.incoming[i].as_ref().map(|c| c.handshake_deadline()));
                        if let Some(i) = oldest {
                            self.drop_incoming(i);
                            self.rejected += 1;
                        }
                    }
                    let slot = self.free_slots.pop().unwrap_or_else(|| {
                        self.incoming.push(None);
                        self.incoming.len() - 1
                    });
                    if self.readiness.add(sock.as_raw_fd(), slot as u64).is_err() {
                        self.free_slots.push(slot);
                        self.rejected += 1;
                        continue;
                    }
                    self.incoming[slot] = Some(Incoming::new(sock, Instant::now() + self.handshake_timeout));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ECONNABORTED, EMFILE...: try again at the next poll.
                Err(_) => break,
            }
        }
    }

    /// Close incoming slot `i` (closing also leaves the epoll set).
    fn drop_incoming(&mut self, i: usize) -> Option<Incoming> {
        let c = self.incoming[i].take()?;
        self.free_slots.push(i);
        if let Some(src) = c.src().filter(|_| !c.reader_only) {
            self.inbound_srcs.remove(&src);
            // We were sending on it too: no other way to that peer.
            if let Some(p) = self.peers.get_mut(&src).filter(|p| p.via_in == Some(i)) {
                p.via_in = None;
                p.gone = Some("the connection it opened to us closed".into());
            }
        }
        Some(c)
    }

    /// Advance incoming slot `i`; returns the error to report, if any.
    fn progress_in(
        &mut self,
        i: usize,
        now: Instant,
        sink: &mut dyn PacketSink,
        stats: &mut (u64, u64),
    ) -> Option<TransportError> {
        let srcs = &mut self.inbound_srcs;
        let mut accept_src = |src: Rank| srcs.insert(src);
        let c = self.incoming[i].as_mut()?;
        let ev = c.progress(self.rank, &self.job, &self.secret, self.max_frame, &mut accept_src, sink, stats);
        let ev = match ev {
            InEvent::Open if c.src().is_none() && now > c.handshake_deadline() => {
                InEvent::Rejected("handshake timed out")
            }
            ev => ev,
        };
        match ev {
            InEvent::Open => None,
            InEvent::Rejected(_why) => {
                self.drop_incoming(i);
                self.rejected += 1;
                None
            }
            InEvent::Closed => {
                self.drop_incoming(i);
                None
            }
            InEvent::Broken(reason) => {
                let c = self.drop_incoming(i)?;
                c.src().map(|peer| TransportError::PeerGone { peer, reason })
            }
        }
    }
}

impl Transport for TcpTransport {
    fn caps(&self) -> &Caps {
        &self.caps
    }

    fn try_send(&mut self, peer: Rank, parts: &[&[u8]]) -> Result<(), TransportError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > self.caps.max_packet {
            return Err(TransportError::TooLarge(len));
        }
        let p = self.peers.get_mut(&peer).ok_or(TransportError::UnknownPeer(peer))?;
        if let Some(reason) = &p.gone {
            return Err(TransportError::PeerGone { peer, reason: reason.clone() });
        }
        if peer < self.rank && p.via_in.is_none() && p.conn.as_ref().is_some_and(|c| c.can_hand_over()) {
            // Both ends opened a connection: the lower rank's carries both
            // directions. Ours ends here (after everything we wrote on it;
            // the peer reads its end before anything we send on the other).
            if let Some(i) = self.inbound_from(peer) {
                let p = self.peers.get_mut(&peer).expect("peer");
                let c = p.conn.take().expect("connection");
                let _ = c.sock.shutdown(std::net::Shutdown::Write);
                p.via_in = Some(i);
            }
        }
        let p = self.peers.get_mut(&peer).expect("peer");
        if p.conn.is_none() && p.via_in.is_none() {
            // Answer on the connection the peer opened, if it is there.
            let via = self.inbound_from(peer);
            let p = self.peers.get_mut(&peer).expect("peer");
            p.via_in = via;
        }
        let p = self.peers.get_mut(&peer).expect("peer");
        if let Some(i) = p.via_in {
            return self.send_via_incoming(peer, i, parts, len);
        }
        if p.conn.is_none() {
            self.connect_next(peer, conn::OutBuf::default(), None, false)?;
        }
        let out_bytes = self.out_bytes;
        let p = self.peers.get_mut(&peer).expect("peer");
        let c = p.conn.as_mut().expect("connection");
        // A large packet is never copied in behind bytes still pending: it
        // waits (in the caller's buffer) until they are written.
        let large = len >= DIRECT_MIN;
        if !c.out.is_empty() && (large || c.out.len() + FRAME_HEADER + len > out_bytes) {
            // Try to make room first.
            self.progress_out(peer)?;
            let c = self.peers.get_mut(&peer).and_then(|p| p.conn.as_mut()).expect("connection");
            if !c.out.is_empty() && (large || c.out.len() + FRAME_HEADER + len > out_bytes) {
                return Err(TransportError::WouldBlock);
            }
        }
        let c = self.peers.get_mut(&peer).and_then(|p| p.conn.as_mut()).expect("connection");
        if matches!(c.state, OutState::Established) && c.out.is_empty() {
            match c.send_frame_direct(parts, len, large) {
                Ok(true) => {}
                Ok(false) => return Err(TransportError::WouldBlock),
                Err(e) => {
                    let p = self.peers.get_mut(&peer).expect("peer");
                    p.conn = None;
                    p.gone = Some(e.to_string());
                    return Err(TransportError::PeerGone { peer, reason: e.to_string() });
                }
            }
        } else {
            c.queue_frame(parts, len);
        }
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += len as u64;
        Ok(())
    }

    fn poll(&mut self, deliver: &mut dyn FnMut(Rank, &[u8])) -> Result<usize, TransportError> {
        self.poll_placing(&mut Deliver(deliver))
    }

    fn prepare_sleep(&mut self) -> bool {
        !self.needs_pollout() && self.incoming.iter().flatten().all(|c| c.out.is_empty())
    }

    fn wait_fds(&self, out: &mut Vec<RawFd>) {
        out.push(self.readiness.fd());
    }

    fn end_sleep(&mut self) {}

    fn counters(&self) -> Counters {
        self.counters
    }
}

impl TcpTransport {
    /// Send several packets to `peer`, in order, with one `sendmsg` when the
    /// connection is established with nothing pending (at most
    /// [`GATHER_FRAMES`]); otherwise the first goes as by `try_send`.
    /// Returns how many were taken (at least one; `WouldBlock` when none):
    /// the write ends where the socket's buffer is full, and a frame cut
    /// short has its tail queued, as with `try_send`. One write for a run
    /// of `Data` chunks or of control packets means one system call and
    /// the kernel's sending work once for all of them, as for one large
    /// message.
    pub fn try_send_batch(&mut self, peer: Rank, packets: &[&[&[u8]]]) -> Result<usize, TransportError> {
        let Some(first) = packets.first() else { return Ok(0) };
        let max = self.caps.max_packet;
        let n = packets.iter().take_while(|p| p.iter().map(|x| x.len()).sum::<usize>() <= max).count();
        if n >= 2 {
            if let Some(r) = self.gather(peer, &packets[..n.min(GATHER_FRAMES)]) {
                return r;
            }
        }
        self.try_send(peer, first).map(|()| 1)
    }

    /// The gathered write of [`TcpTransport::try_send_batch`], on the
    /// connection `try_send` would use; `None` when that one is not settled
    /// (not chosen yet, a hand-over due, still in its handshake) or has
    /// bytes pending: then the ordinary path.
    fn gather(&mut self, peer: Rank, packets: &[&[&[u8]]]) -> Option<Result<usize, TransportError>> {
        let p = self.peers.get(&peer)?;
        if p.gone.is_some() {
            return None;
        }
        let large = packets[0].iter().map(|x| x.len()).sum::<usize>() >= DIRECT_MIN;
        let r = if let Some(i) = p.via_in {
            let c = self.incoming[i].as_mut()?;
            if c.src().is_none() || !c.out.is_empty() {
                return None;
            }
            conn::send_frames(&c.sock, &mut c.out, packets, large)
        } else {
            if peer < self.rank
                && p.conn.as_ref().is_some_and(|c| c.can_hand_over())
                && self.inbound_from(peer).is_some()
            {
                return None;
            }
            let c = self.peers.get_mut(&peer)?.conn.as_mut()?;
            if !matches!(c.state, OutState::Established) || !c.out.is_empty() {
                return None;
            }
            conn::send_frames(&c.sock, &mut c.out, packets, large)
        };
        Some(match r {
            Ok(0) => Err(TransportError::WouldBlock),
            Ok(k) => {
                self.counters.packets_sent += k as u64;
                self.counters.bytes_sent +=
                    packets[..k].iter().flat_map(|p| p.iter()).map(|x| x.len() as u64).sum::<u64>();
                Ok(k)
            }
            Err(e) => Err(self.break_peer(peer, e.to_string())),
        })
    }

    /// [`Transport::poll`] into a [`PacketSink`]: the payload of a large
    /// packet (at least 32 KiB after the sink's prefix) is read straight to
    /// where the sink says, if it says so, and reported through
    /// [`PacketSink::placed`] instead of `deliver` (in order with the
    /// peer's other packets). Saves the copy through the connection's
    /// buffer for rendezvous data. A packet that arrived whole in one read
    /// (at most 64 KiB) may be delivered instead: the sink must take both.
    pub fn poll_placing(&mut self, sink: &mut dyn PacketSink) -> Result<usize, TransportError> {
        let mut first_err: Option<TransportError> = None;
        let mut ready = std::mem::take(&mut self.ready);
        self.readiness.ready(&mut ready).map_err(io_err("epoll_wait"))?;

        if ready.contains(&LISTENER_TOKEN) {
            self.accept_all();
        }

        // Outgoing: handshakes that got input (or errors), pending writes.
        let mut out_work: Vec<Rank> = ready
            .iter()
            .filter(|&&t| t != LISTENER_TOKEN && t & OUT_TAG != 0)
            .map(|&t| (t & !OUT_TAG) as Rank)
            .collect();
        out_work.extend(
            self.peers.iter().filter(|(_, p)| p.conn.as_ref().is_some_and(|c| c.needs_write())).map(|(&r, _)| r),
        );
        out_work.sort_unstable();
        out_work.dedup();
        for peer in out_work {
            if let Err(e) = self.progress_out(peer) {
                first_err.get_or_insert(e);
            }
        }

        // Incoming: the ready ones, plus any with bytes to write or a
        // handshake to time out (no system call for those that are idle).
        let mut stats = (0u64, 0u64);
        let now = Instant::now();
        for &t in &ready {
            if t != LISTENER_TOKEN && t & OUT_TAG == 0 && !self.held_back(t as usize) {
                if let Some(e) = self.progress_in(t as usize, now, sink, &mut stats) {
                    first_err.get_or_insert(e);
                }
            }
        }
        for i in 0..self.incoming.len() {
            let idle_check = self.incoming[i]
                .as_ref()
                .is_some_and(|c| !c.out.is_empty() || (c.src().is_none() && now > c.handshake_deadline()));
            if idle_check {
                if let Some(e) = self.progress_in(i, now, sink, &mut stats) {
                    first_err.get_or_insert(e);
                }
            }
        }
        self.ready = ready;
        self.counters.packets_received += stats.0;
        self.counters.bytes_received += stats.1;
        match first_err {
            Some(e) => Err(e),
            None => Ok(stats.0 as usize),
        }
    }
}
