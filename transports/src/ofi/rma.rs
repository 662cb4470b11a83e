//! Single-copy rendezvous over libfabric RMA: the sender exposes its buffer
//! (a registration with `FI_REMOTE_READ`) and the receiver pulls the whole
//! message with one `fi_read` straight into the user's receive buffer.
//!
//! The engine's rendezvous already has this shape for cross-memory attach:
//! an `Rts` offering (pid, address), a `SingleCopyRead` action on the
//! receiver, then `Fin` (or, when the read fails, `Cts` and streamed
//! `Data`). Over ofi the router fills the `Rts` with what [`OfiTransport::expose`]
//! returns (memory key and remote address) instead of a pid, and performs
//! the action with [`OfiTransport::read`]; the read's completion comes back
//! through [`OfiTransport::take_reads_done`]. The exposure ends when the
//! receiver answers `Fin` or `Cts` ([`OfiTransport::unexpose`]).
//!
//! Registrations are made per message and closed at once (no cache): the
//! socket providers register nothing real, while a fabric that pins memory
//! (verbs, EFA) would want a registration cache here.

use std::collections::VecDeque;

use super::sys::*;
use super::{api, fail, OfiTransport};
use crate::{Rank, TransportError};

/// Reads in flight at once; more wait in a queue.
pub const MAX_READS: usize = 32;

/// A read in flight (by context slot).
pub(super) struct ReadOp {
    token: u64,
    len: usize,
    local_mr: *mut fid_mr,
}

/// A read not yet posted.
pub(super) struct PendingRead {
    peer: Rank,
    buf: *mut u8,
    len: usize,
    addr: u64,
    key: u64,
    token: u64,
}

/// RMA state of the transport.
#[derive(Default)]
pub(super) struct Rma {
    /// The provider reads remote memory and the job wants it.
    pub enabled: bool,
    /// Remote addresses are virtual addresses (else offsets into the region).
    virt_addr: bool,
    /// The provider chooses keys (else rmpi requests unique ones).
    prov_key: bool,
    next_key: u64,
    exposed: std::collections::HashMap<(Rank, u64), *mut fid_mr>,
    pub reads: Vec<Option<ReadOp>>,
    queue: VecDeque<PendingRead>,
    done: Vec<(u64, bool)>,
    reads_ok: u64,
    bytes_read: u64,
}

impl Rma {
    pub fn new(enabled: bool, mr_mode: i32) -> Rma {
        Rma {
            enabled,
            virt_addr: mr_mode & FI_MR_VIRT_ADDR != 0,
            prov_key: mr_mode & FI_MR_PROV_KEY != 0,
            next_key: 1,
            reads: (0..MAX_READS).map(|_| None).collect(),
            ..Rma::default()
        }
    }

    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }
}

impl OfiTransport {
    /// Whether receivers may read senders' buffers (`FI_RMA` reads).
    pub fn rma_read_capable(&self) -> bool {
        self.rma.enabled
    }

    /// Register `len` bytes at `addr` for `peer` to read, under `id` (the
    /// sender's request). Returns `(remote address, key)` for the `Rts`.
    /// Exposing the same `(peer, id)` again returns the same values.
    pub fn expose(&mut self, peer: Rank, id: u64, addr: u64, len: u64) -> Result<(u64, u64), TransportError> {
        let raddr = |base: u64, rma: &super::rma::Rma| if rma.virt_addr { base } else { 0 };
        if let Some(&mr) = self.rma.exposed.get(&(peer, id)) {
            // SAFETY: a live registration.
            return Ok((raddr(addr, &self.rma), unsafe { (*mr).key }));
        }
        let requested = if self.rma.prov_key { 0 } else { self.rma.next_key };
        self.rma.next_key += 1;
        let mut mr: *mut fid_mr = std::ptr::null_mut();
        // SAFETY: live domain; the engine keeps the send buffer alive and
        // unchanged until the receiver's Fin or Cts, when it is unexposed.
        let r = unsafe {
            api::fi_mr_reg(self.domain, addr as *const _, len.max(1) as usize, FI_REMOTE_READ, requested, &mut mr)
        };
        if r != 0 {
            return Err(fail("fi_mr_reg", self.lib.strerror(r as isize)));
        }
        self.rma.exposed.insert((peer, id), mr);
        // SAFETY: the registration just made.
        Ok((raddr(addr, &self.rma), unsafe { (*mr).key }))
    }

    /// End the exposure `(peer, id)` (no-op if there is none).
    pub fn unexpose(&mut self, peer: Rank, id: u64) {
        if let Some(mr) = self.rma.exposed.remove(&(peer, id)) {
            // SAFETY: a live registration, closed once.
            unsafe { api::fi_close(&mut (*mr).fid) };
        }
    }

    /// Read `len` bytes at `(addr, key)` of `peer` into `buf`; the outcome
    /// comes back from [`OfiTransport::take_reads_done`] with `token`.
    ///
    /// # Safety
    /// `buf` is valid for `len` bytes and untouched by anyone else until
    /// the outcome is taken.
    pub unsafe fn read(&mut self, peer: Rank, buf: *mut u8, len: usize, addr: u64, key: u64, token: u64) {
        if !self.peers.contains_key(&peer) || len > self.offer.max_msg_size {
            self.rma.done.push((token, false));
            return;
        }
        self.rma.queue.push_back(PendingRead { peer, buf, len, addr, key, token });
        self.pump_reads();
    }

    /// Reads finished since the last call: `(token, succeeded)`.
    pub fn take_reads_done(&mut self) -> Vec<(u64, bool)> {
        std::mem::take(&mut self.rma.done)
    }

    /// Post queued reads while there are free slots and the provider takes them.
    pub(super) fn pump_reads(&mut self) {
        while let Some(p) = self.rma.queue.front() {
            let Some(slot) = self.rma.reads.iter().position(Option::is_none) else { return };
            let p = PendingRead { ..*p };
            let dest = self.peers.get(&p.peer).map(|x| x.addr);
            let mut local_mr: *mut fid_mr = std::ptr::null_mut();
            let mut ok = dest.is_some();
            if ok && self.register_local {
                // SAFETY: live domain; buf is valid for len (read's contract).
                ok = unsafe { api::fi_mr_reg(self.domain, p.buf as *const _, p.len, FI_READ, 0, &mut local_mr) } == 0;
            }
            if !ok {
                self.rma.queue.pop_front();
                self.rma.done.push((p.token, false));
                continue;
            }
            let ci = self.read_base() + slot;
            let ctx: *mut super::OpCtx = &mut self.ctx[ci];
            let desc = if local_mr.is_null() { std::ptr::null_mut() } else { unsafe { (*local_mr).mem_desc } };
            // SAFETY: live endpoint; buffer, registration and context stay
            // valid until the completion is read in `reap_read`.
            let r = unsafe {
                api::fi_read(self.ep, p.buf.cast(), p.len, desc, dest.expect("checked"), p.addr, p.key, ctx.cast())
            };
            if r == -(FI_EAGAIN as isize) {
                if !local_mr.is_null() {
                    // SAFETY: the registration just made, unused.
                    unsafe { api::fi_close(&mut (*local_mr).fid) };
                }
                return;
            }
            self.rma.queue.pop_front();
            if r != 0 {
                if !local_mr.is_null() {
                    // SAFETY: as above.
                    unsafe { api::fi_close(&mut (*local_mr).fid) };
                }
                self.rma.done.push((p.token, false));
                continue;
            }
            self.rma.reads[slot] = Some(ReadOp { token: p.token, len: p.len, local_mr });
        }
    }

    /// A read in context slot `ci` completed (`ok`) or failed.
    pub(super) fn reap_read(&mut self, ci: usize, ok: bool) {
        let slot = ci - self.read_base();
        if let Some(op) = self.rma.reads.get_mut(slot).and_then(Option::take) {
            if !op.local_mr.is_null() {
                // SAFETY: the read's registration, closed once.
                unsafe { api::fi_close(&mut (*op.local_mr).fid) };
            }
            self.rma.done.push((op.token, ok));
            if ok {
                self.rma.reads_ok += 1;
                self.rma.bytes_read += op.len as u64;
            }
        }
    }

    /// Single-copy reads completed, and their bytes.
    pub fn reads_completed(&self) -> (u64, u64) {
        (self.rma.reads_ok, self.rma.bytes_read)
    }

    /// Close every registration (before the domain closes).
    pub(super) fn close_rma(&mut self) {
        for (_, mr) in self.rma.exposed.drain() {
            // SAFETY: live registrations, closed once.
            unsafe { api::fi_close(&mut (*mr).fid) };
        }
        for op in self.rma.reads.iter_mut().filter_map(Option::take) {
            if !op.local_mr.is_null() {
                // SAFETY: as above.
                unsafe { api::fi_close(&mut (*op.local_mr).fid) };
            }
        }
    }
}
