//! `Doorbell`: how a sender wakes a sleeping local receiver.
//!
//! Each rank binds a nonblocking Unix datagram socket in the abstract
//! namespace (no file, gone when the process exits). Ringing is sending one
//! byte; a full socket queue (`EAGAIN`) is ignored because a pending byte
//! already wakes the receiver. The receiver's socket fd is what it hands to
//! `poll(2)`, together with TCP sockets; that is why this is not a futex.
//!
//! Anyone on the host can send a byte to an abstract socket; the worst it
//! can do is a spurious wake-up, which the sleep protocol tolerates.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use crate::TransportError;

/// The abstract socket name of a rank's doorbell, derived from its segment
/// name and pid (so two jobs that reuse a job id cannot collide).
pub(crate) fn doorbell_name(segment: &str, pid: u32) -> String {
    format!("{segment}.{pid}")
}

/// A bound doorbell socket; also used to ring peers.
pub(crate) struct Doorbell {
    sock: UnixDatagram,
}

/// A peer's doorbell address.
pub(crate) struct DoorbellAddr(SocketAddr);

impl DoorbellAddr {
    /// The address of the doorbell called `name`.
    pub fn new(name: &str) -> Result<Self, TransportError> {
        SocketAddr::from_abstract_name(name.as_bytes())
            .map(DoorbellAddr)
            .map_err(|e| TransportError::io("doorbell address", e))
    }
}

impl Doorbell {
    /// Bind the doorbell `name` (abstract namespace), nonblocking.
    pub fn bind(name: &str) -> Result<Self, TransportError> {
        let addr = DoorbellAddr::new(name)?;
        let sock = UnixDatagram::bind_addr(&addr.0).map_err(|e| TransportError::io("bind doorbell", e))?;
        sock.set_nonblocking(true).map_err(|e| TransportError::io("doorbell nonblocking", e))?;
        Ok(Doorbell { sock })
    }

    /// Ring `peer`'s doorbell. A full queue already means "wake up"; a
    /// vanished peer cannot be woken and its loss is reported elsewhere.
    pub fn ring(&self, peer: &DoorbellAddr) -> Result<(), TransportError> {
        match self.sock.send_to_addr(&[1], &peer.0) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Ok(()),
            Err(e) => Err(TransportError::io("ring doorbell", e)),
        }
    }

    /// Read and discard every pending ring.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while self.sock.recv(&mut buf).is_ok() {}
    }

    /// The fd to `poll(2)` for readability.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
