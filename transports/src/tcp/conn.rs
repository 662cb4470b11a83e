//! One TCP connection in each direction: [`Outgoing`] (we send on it) and
//! [`Incoming`] (we receive on it), each a small state machine driven by
//! nonblocking reads and writes. Frames are a 4-byte little-endian length
//! followed by the packet.

use std::io::{self, IoSlice, Read};
use std::net::SocketAddr;
use std::time::Instant;

use socket2::Socket;

use super::handshake::{self, Hello, NONCE_LEN};
use super::GATHER_FRAMES;
use crate::Rank;

/// Bytes of the frame length prefix.
pub(crate) const FRAME_HEADER: usize = 4;
/// Bytes read from one connection in one `poll` before moving on.
const READ_BUDGET: usize = 4 << 20;
/// Read granularity.
const READ_CHUNK: usize = 64 << 10;

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted
}

/// Send without SIGPIPE (a C program that did not ignore it would die).
fn send_vectored(sock: &Socket, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    sock.send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
}

/// Bytes waiting to be written, in order.
#[derive(Default)]
pub(crate) struct OutBuf {
    buf: Vec<u8>,
    off: usize,
}

impl OutBuf {
    /// Pending bytes.
    pub fn len(&self) -> usize {
        self.buf.len() - self.off
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.off == self.buf.len() {
            self.buf.clear();
            self.off = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Write as much as the socket takes. `Ok(true)` when empty.
    pub fn flush(&mut self, sock: &Socket) -> io::Result<bool> {
        while self.off < self.buf.len() {
            match send_vectored(sock, &[IoSlice::new(&self.buf[self.off..])]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.off += n,
                Err(e) if would_block(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.off = 0;
        // Do not keep a huge buffer around after a burst.
        if self.buf.capacity() > 8 << 20 {
            self.buf.shrink_to(1 << 20);
        }
        Ok(true)
    }
}

/// Where an outgoing connection stands.
pub(crate) enum OutState {
    /// Nonblocking connect in progress.
    Connecting,
    /// Connected; waiting for the acceptor's nonce (`got` bytes so far).
    AwaitNonce { got: Vec<u8> },
    /// Hello sent (or in `hello`); waiting for the acceptor's proof.
    AwaitAck { nonce: [u8; NONCE_LEN], got: Vec<u8> },
    /// Authenticated both ways; frames flow.
    Established,
}

/// A connection we opened to send to one peer.
pub(crate) struct Outgoing {
    pub sock: Socket,
    pub state: OutState,
    /// The hello, while not fully written.
    hello: OutBuf,
    /// Queued frames (written only once established).
    pub out: OutBuf,
    pub addr: SocketAddr,
    /// Registered for readability (until established).
    pub watched: bool,
}

/// Progress of an outgoing connection.
pub(crate) enum OutProgress {
    Ok,
    /// The attempt ended before any frame was sent (connect error, the
    /// acceptor closed during the handshake, e.g. because it timed us out):
    /// retrying is safe.
    Retry(String),
    /// The acceptor could not prove the secret: try another address.
    WrongPeer(String),
    /// Broken after the handshake: data may be lost.
    Broken(String),
}

impl Outgoing {
    /// A connection attempt under way (connect already issued).
    pub fn new(sock: Socket, addr: SocketAddr, queued: OutBuf) -> Self {
        Outgoing { sock, state: OutState::Connecting, hello: OutBuf::default(), out: queued, addr, watched: true }
    }

    /// Give back the queued frames (to retry on a new connection).
    pub fn into_queued(self) -> OutBuf {
        self.out
    }

    /// Advance: complete the connect, answer the nonce, check the ack,
    /// flush queued frames.
    pub fn progress(&mut self, me: Rank, peer: Rank, job: &str, secret: &[u8]) -> OutProgress {
        let addr = self.addr;
        let retry = |what: &str| OutProgress::Retry(format!("{what} {addr}"));
        loop {
            match &mut self.state {
                OutState::Connecting => {
                    match self.sock.take_error() {
                        Ok(Some(e)) | Err(e) => return retry(&format!("connect ({e}) to")),
                        Ok(None) => {}
                    }
                    match self.sock.peer_addr() {
                        Ok(_) => self.state = OutState::AwaitNonce { got: Vec::with_capacity(NONCE_LEN) },
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return OutProgress::Ok,
                        Err(e) => return retry(&format!("connect ({e}) to")),
                    }
                }
                OutState::AwaitNonce { got } => {
                    match read_some(&self.sock, got, NONCE_LEN) {
                        Ok(true) => {}
                        Ok(false) => return OutProgress::Ok,
                        Err(e) => return retry(&format!("handshake ({e}) with")),
                    }
                    let nonce: [u8; NONCE_LEN] = got[..].try_into().expect("nonce length");
                    self.hello.push(&handshake::encode_hello(me, peer, job, secret, &nonce));
                    self.state = OutState::AwaitAck { nonce, got: Vec::with_capacity(NONCE_LEN) };
                }
                OutState::AwaitAck { nonce, got } => {
                    if let Err(e) = self.hello.flush(&self.sock) {
                        return retry(&format!("handshake ({e}) with"));
                    }
                    match read_some(&self.sock, got, handshake::ACK_LEN) {
                        Ok(true) => {}
                        Ok(false) => return OutProgress::Ok,
                        Err(e) => return retry(&format!("handshake ({e}) with")),
                    }
                    if !handshake::check_ack(got, secret, nonce, me, peer) {
                        return OutProgress::WrongPeer(format!("{addr} did not prove the job secret"));
                    }
                    self.state = OutState::Established;
                }
                OutState::Established => {
                    return match self.out.flush(&self.sock) {
                        Ok(_) => OutProgress::Ok,
                        Err(e) => OutProgress::Broken(e.to_string()),
                    };
                }
            }
        }
    }

    /// Send one frame now if possible (see [`send_frame`]). Only for an
    /// established connection with nothing pending.
    pub fn send_frame_direct(&mut self, parts: &[&[u8]], len: usize, decline_if_full: bool) -> io::Result<bool> {
        debug_assert!(matches!(self.state, OutState::Established) && self.out.is_empty());
        send_frame(&self.sock, &mut self.out, parts, len, decline_if_full)
    }

    /// Queue one frame.
    pub fn queue_frame(&mut self, parts: &[&[u8]], len: usize) {
        queue_frame(&mut self.out, parts, len);
    }

    /// Whether the connection may be ended for another one now: it is
    /// established and everything written on it is in the kernel's hands.
    pub fn can_hand_over(&self) -> bool {
        matches!(self.state, OutState::Established) && self.out.is_empty() && !self.watched
    }

    /// Whether this connection needs POLLOUT to progress (so the rank must
    /// not sleep): an unwritten hello, or pending frames on an established
    /// connection.
    pub fn needs_write(&self) -> bool {
        !self.hello.is_empty() || (matches!(self.state, OutState::Established) && !self.out.is_empty())
    }
}

/// Send one frame on `sock` now if possible, queueing in `out` (which
/// must be empty) what the socket does not take. With `decline_if_full`, a
/// frame the socket takes no byte of is not queued (no copy of a large
/// payload): `Ok(false)`, nothing sent.
pub(crate) fn send_frame(
    sock: &Socket,
    out: &mut OutBuf,
    parts: &[&[u8]],
    len: usize,
    decline_if_full: bool,
) -> io::Result<bool> {
    debug_assert!(out.is_empty());
    let header = (len as u32).to_le_bytes();
    let mut slices: [IoSlice<'_>; 4] = [IoSlice::new(&[]); 4];
    let mut k = 0;
    slices[k] = IoSlice::new(&header);
    k += 1;
    for p in parts.iter().filter(|p| !p.is_empty()) {
        if k == slices.len() {
            // More parts than the fixed array holds: queue them all.
            queue_frame(out, parts, len);
            return Ok(true);
        }
        slices[k] = IoSlice::new(p);
        k += 1;
    }
    let slices = &slices[..k];
    let total = FRAME_HEADER + len;
    let cap = write_max();
    let mut written = 0;
    while written < total {
        // What is left of the frame, at most `cap` bytes of it.
        let (mut skip, mut room) = (written, cap);
        let mut rest: [IoSlice<'_>; 4] = [IoSlice::new(&[]); 4];
        let mut m = 0;
        for s in slices {
            if skip >= s.len() {
                skip -= s.len();
                continue;
            }
            if room == 0 {
                break;
            }
            let piece = &s[skip..];
            let piece = &piece[..piece.len().min(room)];
            room -= piece.len();
            rest[m] = IoSlice::new(piece);
            m += 1;
            skip = 0;
        }
        let asked = cap - room;
        match send_vectored(sock, &rest[..m]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                if n < asked {
                    // The socket's buffer is full: no second call only to hear EAGAIN.
                    break;
                }
            }
            Err(e) if would_block(&e) => {
                if written == 0 && decline_if_full {
                    return Ok(false);
                }
                break;
            }
            Err(e) => return Err(e),
        }
    }
    // Queue the unwritten remainder of the frame.
    let mut skip = written;
    for s in slices {
        if skip >= s.len() {
            skip -= s.len();
        } else {
            out.push(&s[skip..]);
            skip = 0;
        }
    }
    Ok(true)
}

/// Send several frames on `sock` with one `sendmsg` (`out` must be empty;
/// each packet has at most two non-empty parts, and at most
/// [`GATHER_FRAMES`] are looked at). Returns how many were taken, in
/// order: every frame written whole, plus a partly written one whose
/// unwritten tail is queued in `out`. When the socket takes nothing, the
/// first frame is queued whole unless `decline_first_if_full` (then
/// `Ok(0)`: nothing taken).
pub(crate) fn send_frames(
    sock: &Socket,
    out: &mut OutBuf,
    packets: &[&[&[u8]]],
    decline_first_if_full: bool,
) -> io::Result<usize> {
    debug_assert!(out.is_empty());
    let mut lens = [[0u8; FRAME_HEADER]; GATHER_FRAMES];
    let mut ends = [0usize; GATHER_FRAMES];
    let mut count = 0;
    let mut total = 0;
    for (k, parts) in packets.iter().take(GATHER_FRAMES).enumerate() {
        if parts.iter().filter(|p| !p.is_empty()).count() > 2 {
            break;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        lens[k] = (len as u32).to_le_bytes();
        total += FRAME_HEADER + len;
        ends[k] = total;
        count = k + 1;
    }
    let mut slices: [IoSlice<'_>; 3 * GATHER_FRAMES] = [IoSlice::new(&[]); 3 * GATHER_FRAMES];
    let mut m = 0;
    for (k, parts) in packets.iter().take(count).enumerate() {
        slices[m] = IoSlice::new(&lens[k]);
        m += 1;
        for p in parts.iter().filter(|p| !p.is_empty()) {
            slices[m] = IoSlice::new(p);
            m += 1;
        }
    }
    let written = loop {
        match send_vectored(sock, &slices[..m]) {
            Ok(0) if total > 0 => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break 0,
            Err(e) => return Err(e),
        }
    };
    if written == 0 {
        if decline_first_if_full || count == 0 {
            return Ok(0);
        }
        queue_frame(out, packets[0], ends[0] - FRAME_HEADER);
        return Ok(1);
    }
    // Frames written whole, then the one cut short (its tail queued).
    let whole = ends[..count].iter().take_while(|&&e| e <= written).count();
    if whole == count {
        return Ok(whole);
    }
    let start = if whole == 0 { 0 } else { ends[whole - 1] };
    if written > start {
        let mut skip = written - start;
        let frame = [&lens[whole][..]].into_iter().chain(packets[whole].iter().copied());
        for s in frame {
            if skip >= s.len() {
                skip -= s.len();
            } else {
                out.push(&s[skip..]);
                skip = 0;
            }
        }
        return Ok(whole + 1);
    }
    Ok(whole)
}

/// Default of [`write_max`].
const DEFAULT_WRITE: usize = 256 << 10;

/// `RMPI_TCP_WRITE`: the most bytes one `sendmsg` of a large frame carries
/// (default [`DEFAULT_WRITE`]; 0: the whole frame at once).
fn write_max() -> usize {
    static V: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *V.get_or_init(|| match std::env::var("RMPI_TCP_WRITE").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => DEFAULT_WRITE,
    })
}

/// Queue one frame in `out`.
pub(crate) fn queue_frame(out: &mut OutBuf, parts: &[&[u8]], len: usize) {
    out.push(&(len as u32).to_le_bytes());
    for p in parts {
        out.push(p);
    }
}

/// Read into `got` until it holds `want` bytes. `Ok(true)` when complete,
/// `Ok(false)` when the socket has nothing more now; end of stream is an
/// error.
fn read_some(sock: &Socket, got: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    let mut buf = [0u8; 64];
    while got.len() < want {
        let n = want - got.len();
        match (&*sock).read(&mut buf[..n.min(64)]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if would_block(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Where an incoming connection's packets go: whole packets to `deliver`;
/// a large one's payload, if the sink names a destination for it, read
/// straight there (see [`super::TcpTransport::poll_placing`]).
pub trait PacketSink {
    /// A complete packet from `from`.
    fn deliver(&mut self, from: Rank, pkt: &[u8]);
    /// Bytes at the start of a packet that say where its payload goes (the
    /// payload is the rest); `None`: never place, deliver everything.
    fn prefix_len(&self) -> Option<usize> {
        None
    }
    /// Where the `payload_len` bytes after `prefix` belong, if the sink
    /// wants them there: a pointer valid for that many bytes until
    /// [`PacketSink::placed`] is called for this packet.
    fn target(&mut self, _from: Rank, _prefix: &[u8], _payload_len: usize) -> Option<*mut u8> {
        None
    }
    /// The payload of the packet that began with `prefix` has been written
    /// where `target` said.
    fn placed(&mut self, _from: Rank, _prefix: &[u8]) {}
}

/// A sink that only delivers.
pub(crate) struct Deliver<'a>(pub &'a mut dyn FnMut(Rank, &[u8]));

impl PacketSink for Deliver<'_> {
    fn deliver(&mut self, from: Rank, pkt: &[u8]) {
        (self.0)(from, pkt)
    }
}

/// Frames whose payload is at least this long are offered to the sink for placement.
pub(crate) const PLACE_MIN: usize = 32 << 10;

/// Default of [`lowat_target`].
const DEFAULT_LOWAT: usize = 256 << 10;

/// `RMPI_TCP_LOWAT`: while a placed payload streams in, wake for at least
/// this many bytes (default [`DEFAULT_LOWAT`]; 0 or 1: for every byte).
fn lowat_target() -> usize {
    static V: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var("RMPI_TCP_LOWAT").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_LOWAT))
}

fn set_lowat(sock: &Socket, n: usize) {
    let v = n.max(1) as libc::c_int;
    // SAFETY: plain setsockopt with a c_int value of the right size.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// A payload being read straight into its destination.
struct Placing {
    ptr: *mut u8,
    len: usize,
    done: usize,
    prefix: Vec<u8>,
}

// SAFETY: the pointer is only written through by the thread that owns the
// transport, and the `Placer` that handed it out keeps it valid until told
// the payload is complete.
unsafe impl Send for Placing {}

/// Where an incoming connection stands.
pub(crate) enum InState {
    /// Nonce sent (or pending in `out`); waiting for the hello.
    AwaitHello { nonce: [u8; NONCE_LEN], deadline: Instant },
    /// Authenticated: frames from `src`.
    Established { src: Rank },
}

/// A connection a peer opened to send to us.
pub(crate) struct Incoming {
    pub sock: Socket,
    pub state: InState,
    /// Outgoing bytes (only the nonce).
    pub out: OutBuf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The payload of the current frame, being read into its destination.
    placing: Option<Placing>,
    /// SO_RCVLOWAT in force (1: the default).
    lowat: usize,
    /// The most SO_RCVLOWAT may be: a quarter of the receive buffer, so the
    /// bytes waited for always fit.
    lowat_max: usize,
    /// The reading side of one of our outgoing connections (we send on
    /// the `Outgoing`, never here).
    pub reader_only: bool,
    /// A placed payload just ended: read only the next frame's header and
    /// the sink's prefix first, so that if it is large too its payload
    /// goes straight to its destination rather than partly through `buf`
    /// (a 64 KiB read would copy a quarter of a 256 KiB message twice).
    header_first: bool,
}

/// What happened while reading an incoming connection.
pub(crate) enum InEvent {
    /// Still open.
    Open,
    /// The hello was invalid (reason), or the handshake timed out.
    Rejected(&'static str),
    /// Clean end of stream at a frame boundary.
    Closed,
    /// Broken: error, or end of stream inside a frame.
    Broken(String),
}

impl Incoming {
    /// A freshly accepted connection; queues and tries to send the nonce.
    pub fn new(sock: Socket, deadline: Instant) -> Self {
        let nonce = handshake::new_nonce();
        let mut out = OutBuf::default();
        out.push(&nonce);
        let _ = out.flush(&sock);
        Self::with_state(sock, InState::AwaitHello { nonce, deadline }, out, false)
    }

    /// The reading side of an outgoing connection of ours to `src` that
    /// completed its handshake (`sock` is a duplicate of its descriptor):
    /// `src` may answer on it, so that its packets carry the
    /// acknowledgements of ours and a ping-pong costs one segment per
    /// message instead of two (a data segment and a pure ACK).
    pub fn established_reader(sock: Socket, src: Rank) -> Self {
        Self::with_state(sock, InState::Established { src }, OutBuf::default(), true)
    }

    fn with_state(sock: Socket, state: InState, out: OutBuf, reader_only: bool) -> Self {
        let lowat_max = sock.recv_buffer_size().map(|b| b / 4).unwrap_or(0);
        Incoming {
            sock,
            state,
            out,
            buf: Vec::new(),
            start: 0,
            end: 0,
            placing: None,
            lowat: 1,
            lowat_max,
            reader_only,
            header_first: false,
        }
    }

    /// While a placed payload streams in, have the socket report readable
    /// only once [`lowat_target`] bytes (or the rest of the payload) are
    /// there: the rank sleeps through the small segments instead of waking
    /// (and taking the socket's lock, pulling the kernel's receive work onto
    /// itself) for each. Back to 1 between frames.
    fn update_lowat(&mut self) {
        let lw = lowat_target();
        if lw <= 1 && self.lowat <= 1 {
            return;
        }
        let next = match &self.placing {
            Some(pl) => lw.min(self.lowat_max).min(pl.len - pl.done).max(1),
            None => 1,
        };
        if next != self.lowat {
            set_lowat(&self.sock, next);
            self.lowat = next;
        }
    }

    /// When the handshake must be complete (meaningless once it is).
    pub fn handshake_deadline(&self) -> Instant {
        match self.state {
            InState::AwaitHello { deadline, .. } => deadline,
            InState::Established { .. } => Instant::now() + std::time::Duration::from_secs(3600),
        }
    }

    /// The authenticated sender, if any.
    pub fn src(&self) -> Option<Rank> {
        match self.state {
            InState::Established { src } => Some(src),
            InState::AwaitHello { .. } => None,
        }
    }

    /// Make room for at least `want` more bytes after `end`.
    fn reserve(&mut self, want: usize) {
        if self.start > 0 && self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            self.buf.resize(self.end + want, 0);
        }
    }

    /// Read what is available (up to a budget), check the hello, and hand
    /// every complete frame to `deliver`. `accept_src` decides whether an
    /// authenticated sender is welcome (no duplicate connection).
    #[allow(clippy::too_many_arguments)]
    pub fn progress(
        &mut self,
        me: Rank,
        job: &str,
        secret: &[u8],
        max_frame: usize,
        accept_src: &mut dyn FnMut(Rank) -> bool,
        sink: &mut dyn PacketSink,
        stats: &mut (u64, u64),
    ) -> InEvent {
        if !self.out.is_empty() {
            if let Err(e) = self.out.flush(&self.sock) {
                return InEvent::Broken(e.to_string());
            }
        }
        let mut read = 0;
        let mut drained = false;
        loop {
            let ev = self.parse(me, job, secret, max_frame, accept_src, sink, stats);
            if !matches!(ev, InEvent::Open) {
                return ev;
            }
            // A read that did not fill what was offered emptied the socket:
            // no second read only to learn EAGAIN (the level-triggered epoll
            // set reports the connection again when more arrives).
            if drained || read >= READ_BUDGET {
                return InEvent::Open;
            }
            if let Some(pl) = self.placing.as_mut() {
                let want = pl.len - pl.done;
                // SAFETY: the placer guarantees `ptr..ptr+len` is writable
                // and unaliased until `placed`; `done + want == len`.
                let dst = unsafe { std::slice::from_raw_parts_mut(pl.ptr.add(pl.done), want) };
                match self.sock.read(dst) {
                    Ok(0) => return InEvent::Broken("connection closed inside a frame".into()),
                    Ok(n) => {
                        pl.done += n;
                        read += n;
                        drained = n < want;
                        if pl.done == pl.len {
                            let pl = self.placing.take().expect("placing");
                            self.header_first = true;
                            if let InState::Established { src } = self.state {
                                sink.placed(src, &pl.prefix);
                            }
                            stats.0 += 1;
                            stats.1 += (pl.prefix.len() + pl.len) as u64;
                        }
                    }
                    Err(e) if would_block(&e) => return InEvent::Open,
                    Err(e) => return InEvent::Broken(e.to_string()),
                }
                self.update_lowat();
                continue;
            }
            let want = match self.state {
                InState::Established { .. } if self.end - self.start >= FRAME_HEADER => {
                    let flen =
                        u32::from_le_bytes(self.buf[self.start..self.start + 4].try_into().expect("a 4-byte slice"))
                            as usize;
                    let rest = (FRAME_HEADER + flen).saturating_sub(self.end - self.start);
                    // A large frame is read up to its end and no further, so
                    // that no part of the next frame has to be moved to the
                    // front of the buffer afterwards.
                    if rest > READ_CHUNK {
                        rest.min(4 << 20)
                    } else {
                        READ_CHUNK
                    }
                }
                InState::Established { .. } if self.header_first => match sink.prefix_len() {
                    Some(pre) => (FRAME_HEADER + pre).saturating_sub(self.end - self.start).max(1),
                    None => READ_CHUNK,
                },
                _ => READ_CHUNK,
            };
            self.reserve(want);
            let end = self.end;
            match self.sock.read(&mut self.buf[end..end + want]) {
                Ok(0) => {
                    return match self.state {
                        InState::AwaitHello { .. } => InEvent::Rejected("closed before the handshake completed"),
                        InState::Established { .. } if self.start == self.end => InEvent::Closed,
                        InState::Established { .. } => InEvent::Broken("connection closed inside a frame".into()),
                    };
                }
                Ok(n) => {
                    self.end += n;
                    read += n;
                    drained = n < want;
                    self.header_first = false;
                }
                Err(e) if would_block(&e) => {
                    if let InState::AwaitHello { deadline, .. } = self.state {
                        if Instant::now() > deadline {
                            return InEvent::Rejected("handshake timed out");
                        }
                    }
                    return InEvent::Open;
                }
                Err(e) => {
                    return match self.state {
                        InState::AwaitHello { .. } => InEvent::Rejected("error before the handshake completed"),
                        InState::Established { .. } => InEvent::Broken(e.to_string()),
                    }
                }
            }
        }
    }

    /// Consume the hello and complete frames from the buffer.
    #[allow(clippy::too_many_arguments)]
    fn parse(
        &mut self,
        me: Rank,
        job: &str,
        secret: &[u8],
        max_frame: usize,
        accept_src: &mut dyn FnMut(Rank) -> bool,
        sink: &mut dyn PacketSink,
        stats: &mut (u64, u64),
    ) -> InEvent {
        if self.placing.is_some() {
            return InEvent::Open;
        }
        if let InState::AwaitHello { nonce, .. } = &self.state {
            match handshake::check_hello(&self.buf[self.start..self.end], me, job, secret, nonce) {
                Hello::Incomplete => return InEvent::Open,
                Hello::Rejected(why) => return InEvent::Rejected(why),
                Hello::Valid { src, len } => {
                    if !accept_src(src) {
                        return InEvent::Rejected("second connection from the same rank");
                    }
                    self.out.push(&handshake::encode_ack(secret, nonce, src, me));
                    if let Err(e) = self.out.flush(&self.sock) {
                        return InEvent::Broken(e.to_string());
                    }
                    self.start += len;
                    self.state = InState::Established { src };
                }
            }
        }
        let InState::Established { src } = self.state else {
            return InEvent::Open;
        };
        while self.end - self.start >= FRAME_HEADER {
            let flen =
                u32::from_le_bytes(self.buf[self.start..self.start + 4].try_into().expect("a 4-byte slice")) as usize;
            if flen > max_frame {
                return InEvent::Broken(format!("frame of {flen} bytes exceeds {max_frame}"));
            }
            if self.end - self.start < FRAME_HEADER + flen {
                break;
            }
            let p = &self.buf[self.start + FRAME_HEADER..self.start + FRAME_HEADER + flen];
            sink.deliver(src, p);
            stats.0 += 1;
            stats.1 += flen as u64;
            self.start += FRAME_HEADER + flen;
        }
        // A large frame whose prefix is in: offer its payload to the placer.
        if let Some(pre) = sink.prefix_len() {
            let have = self.end - self.start;
            if have >= FRAME_HEADER + pre {
                let flen = u32::from_le_bytes(self.buf[self.start..self.start + 4].try_into().expect("a 4-byte slice"))
                    as usize;
                if flen >= pre + PLACE_MIN {
                    let prefix = &self.buf[self.start + FRAME_HEADER..self.start + FRAME_HEADER + pre];
                    if let Some(ptr) = sink.target(src, prefix, flen - pre) {
                        // What of the payload is buffered already is copied;
                        // the rest is read straight to `ptr`.
                        let got = have - FRAME_HEADER - pre;
                        let from = self.start + FRAME_HEADER + pre;
                        // SAFETY: `ptr` is valid for `flen - pre > got` bytes
                        // (the frame is incomplete) and does not overlap our buffer.
                        unsafe { std::ptr::copy_nonoverlapping(self.buf[from..].as_ptr(), ptr, got) };
                        self.placing = Some(Placing { ptr, len: flen - pre, done: got, prefix: prefix.to_vec() });
                        self.start = self.end;
                        self.update_lowat();
                    }
                }
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > 8 << 20 {
                self.buf = Vec::new();
            }
        }
        InEvent::Open
    }
}
