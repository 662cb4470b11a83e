//! Per-peer choice of transport, and moving packets between the engine and
//! the transports.
//!
//! Each world rank is reached through exactly one path (itself, shared
//! memory, or TCP), so the engine's reliance on per-peer FIFO order holds.
//! Shared-memory peers are attached at start-up; TCP peers are set up lazily
//! on first send, from the business card the peer published in PMI.

use std::collections::VecDeque;
use std::os::fd::RawFd;

use rmpi_engine::{Action, Engine, PeerCaps};
use rmpi_transports::{cma, shm::ShmTransport, tcp::TcpTransport, Transport, TransportError};

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
}

/// The transports of this rank and the route to every peer.
pub struct Router {
    me: u32,
    routes: Vec<Route>,
    pub(crate) shm: Option<ShmTransport>,
    pub(crate) tcp: Option<TcpTransport>,
    loopback: VecDeque<Vec<u8>>,
    single_copy: bool,
    scratch: Vec<u32>,
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
            loopback: VecDeque::new(),
            single_copy: cma::probe(),
            scratch: Vec::new(),
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
            self.routes[peer as usize] = Route::Shm;
        }
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
            if let Some(tcp) = self.tcp.as_mut() {
                match tcp.poll(&mut deliver) {
                    Ok(k) => n += k,
                    // A peer that closed its end has finished (or died, and
                    // the launcher ends the job); sending to it will fail.
                    Err(TransportError::PeerGone { .. }) => n += 1,
                    Err(e) => return Err(transport_err(e)),
                }
            }
        }
        if let Some(e) = fault {
            return Err(MpiError::new(ErrorClass::Intern, e.to_string()));
        }
        while let Some(Action::SingleCopyRead { req, pid, addr, len }) = engine.next_action() {
            let ok = match engine.recv_buffer(req) {
                Some(mut buf) => cma::read_remote(pid as i32, addr as usize, buf.prefix_mut(len)).is_ok(),
                None => false,
            };
            engine.single_copy_done(req, ok);
            n += 1;
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
        }
        Ok(sent)
    }

    /// Hand one packet straight to `peer`'s transport (the engine's queue
    /// for it is empty). Returns false if the transport has no room now.
    pub fn try_send_now(&mut self, peer: u32, header: &[u8], payload: &[u8]) -> MpiResult<bool> {
        let r = match self.routes[peer as usize] {
            Route::Shm => self.shm.as_mut().expect("shm route").try_send(peer, &[header, payload]),
            Route::Tcp => self.tcp.as_mut().expect("tcp route").try_send(peer, &[header, payload]),
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
    }

    /// End a sleep.
    pub fn end_sleep(&mut self) {
        if let Some(s) = self.shm.as_mut() {
            s.end_sleep();
        }
        if let Some(t) = self.tcp.as_mut() {
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
        v
    }
}
