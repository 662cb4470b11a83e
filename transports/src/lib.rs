//! Transports move packets between ranks; they know nothing of MPI matching.
//!
//! A packet is an opaque byte string (the engine puts its header first). Every
//! transport keeps per-peer FIFO order, never buffers without bound (a full
//! queue answers [`TransportError::WouldBlock`] and the caller keeps the packet),
//! and connects lazily. The runtime picks one transport per peer (self is
//! handled inside the engine; shared memory for ranks on this node; ofi or
//! TCP otherwise), so per-pair order holds whatever the mix.
//!
//! Sleeping: a rank with nothing to do calls [`Transport::prepare_sleep`] on
//! every transport, then `poll(2)`s the union of [`Transport::wait_fds`]
//! (for instance with [`wait_readable`]), then [`Transport::end_sleep`]. A
//! sender rings a peer's doorbell only when that peer announced it sleeps, so
//! the fast path has no system call. `prepare_sleep` answers `false` while
//! the transport has work that readability cannot signal (TCP bytes waiting
//! for `POLLOUT`), so the caller must keep polling instead of sleeping.
//!
//! Modules: [`shm`] (same node, lock-free rings in `/dev/shm`), [`tcp`]
//! (between nodes, authenticated by the job secret), [`ofi`] (libfabric,
//! loaded at run time: verbs, EFA, CXI, PSM3, OPX, or its socket and shm
//! providers), [`cma`] (single-copy reads of a local peer's memory).

use std::os::fd::RawFd;

pub mod cma;
pub mod ofi;
pub mod shm;
pub mod tcp;
mod wait;

pub use wait::wait_readable;

/// A rank in `MPI_COMM_WORLD` (transports address world ranks only).
pub type Rank = u32;

/// What a transport can do; the engine picks its protocol from this.
#[derive(Debug, Clone)]
pub struct Caps {
    /// Short name for diagnostics and counters ("shm", "tcp").
    pub name: &'static str,
    /// Largest packet (all parts together) that `try_send` accepts.
    pub max_packet: usize,
    /// Suggested eager limit (payload bytes) for this transport.
    pub eager_limit: usize,
    /// The peer's memory can be read directly with [`cma::read_remote`]
    /// (single-copy rendezvous).
    pub single_copy: bool,
}

/// Errors of a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No room now; retry after `poll`. Nothing was sent.
    #[error("transport queue full")]
    WouldBlock,
    /// The peer is unknown to this transport (no card added).
    #[error("rank {0} is not reachable through this transport")]
    UnknownPeer(Rank),
    /// The peer's connection ended or broke.
    #[error("connection to rank {peer} lost: {reason}")]
    PeerGone { peer: Rank, reason: String },
    /// A packet larger than `Caps::max_packet`.
    #[error("packet of {0} bytes exceeds the transport's maximum")]
    TooLarge(usize),
    /// A malformed business card.
    #[error("bad business card: {0}")]
    BadCard(String),
    /// A system call failed.
    #[error("I/O error in {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl TransportError {
    /// Wrap an I/O error with the operation that failed.
    pub fn io(op: &'static str, source: std::io::Error) -> Self {
        TransportError::Io { op, source }
    }
}

/// Counters every transport keeps (tests use them to check the path taken).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Packets accepted by `try_send`.
    pub packets_sent: u64,
    /// Payload bytes accepted by `try_send`.
    pub bytes_sent: u64,
    /// Packets handed to `deliver`.
    pub packets_received: u64,
    /// Payload bytes handed to `deliver`.
    pub bytes_received: u64,
    /// Doorbells this rank rang (shm: a sleeping receiver, or a blocked
    /// sender whose ring got room; always 0 for TCP).
    pub doorbells_rung: u64,
}

/// One way of moving packets to peers.
pub trait Transport: Send {
    /// What this transport can do.
    fn caps(&self) -> &Caps;

    /// Send one packet made of the concatenation of `parts`, all or nothing.
    /// `WouldBlock` means no room now: nothing was sent, retry after `poll`.
    fn try_send(&mut self, peer: Rank, parts: &[&[u8]]) -> Result<(), TransportError>;

    /// Hand every packet that has arrived to `deliver`, in per-peer order.
    /// Also makes progress on outgoing work (connects, partial writes).
    /// Returns the number of packets delivered.
    fn poll(&mut self, deliver: &mut dyn FnMut(Rank, &[u8])) -> Result<usize, TransportError>;

    /// Announce that this rank is about to sleep. Returns `false` if work is
    /// already pending (then the caller must not sleep, but still calls
    /// `end_sleep`).
    fn prepare_sleep(&mut self) -> bool;

    /// File descriptors whose readability must end a sleep.
    fn wait_fds(&self, out: &mut Vec<RawFd>);

    /// The sleep is over (woken or timed out).
    fn end_sleep(&mut self);

    /// Traffic counters.
    fn counters(&self) -> Counters;
}
