//! `Net`: the engine, the transports and PMI of one rank, and the progress
//! step that moves packets between them.

use std::os::fd::RawFd;

use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{Engine, ReqId, SendMode};
use rmpi_pmi::PmiClient;

use crate::error::{ErrorClass, MpiError, MpiResult};
use crate::router::Router;

/// The world as this rank sees it.
#[derive(Debug, Clone)]
pub struct World {
    pub rank: u32,
    pub size: u32,
    /// Node id of every rank (from the launcher's process mapping).
    pub node_of_rank: Vec<u32>,
    /// PMI job id (or a singleton's made-up one).
    #[allow(dead_code)] // kept for diagnostics and the coming node-aware code
    pub jobid: String,
}

impl World {
    /// World ranks on this rank's node, sorted.
    pub fn local_ranks(&self) -> Vec<u32> {
        let me = self.node_of_rank[self.rank as usize];
        (0..self.size).filter(|&r| self.node_of_rank[r as usize] == me).collect()
    }
}

/// Engine + transports + PMI.
pub struct Net {
    pub engine: Engine,
    pub router: Router,
    pub pmi: Option<PmiClient>,
    pub world: World,
}

/// Key under which a rank publishes its TCP business card.
pub fn tcp_card_key(rank: u32) -> String {
    format!("rmpi-tcp-{rank}")
}

/// Key under which a rank publishes its shared-memory business card.
pub fn shm_card_key(rank: u32) -> String {
    format!("rmpi-shm-{rank}")
}

impl Net {
    /// Make sure world rank `peer` can be sent to.
    pub fn ensure_route(&mut self, peer: u32) -> MpiResult<()> {
        let same_node = self.world.node_of_rank[peer as usize] == self.world.node_of_rank[self.world.rank as usize];
        if self.router.has_ofi() && !self.router.is_routed(peer) && peer != self.world.rank {
            // Forced ofi reaches every peer; automatic ofi only other nodes.
            if crate::ofi::forced() || !same_node {
                if let Some(pmi) = self.pmi.as_mut() {
                    if let Some(c) = crate::ofi::get_card(pmi, peer)? {
                        if self.router.route_ofi(&mut self.engine, peer, &c)? {
                            return Ok(());
                        }
                    }
                }
            }
        }
        let pmi = &mut self.pmi;
        let mut card = |p: u32| -> MpiResult<String> {
            let pmi =
                pmi.as_mut().ok_or_else(|| MpiError::new(ErrorClass::Intern, "no PMI to look up a peer's address"))?;
            pmi.get_split(&tcp_card_key(p))
                .map_err(|e| MpiError::new(ErrorClass::Intern, format!("PMI get of rank {p}'s card: {e}")))?
                .ok_or_else(|| MpiError::new(ErrorClass::Intern, format!("rank {p} published no TCP address")))
        };
        self.router.ensure(&mut self.engine, peer, same_node, &mut card)
    }

    /// Post a send to world rank `peer`.
    pub fn send(&mut self, peer: u32, ctx: u32, src: i32, tag: i32, buf: SendBuf, mode: SendMode) -> MpiResult<ReqId> {
        self.ensure_route(peer)?;
        let rid = self
            .engine
            .post_send(peer, ctx, src, tag, buf, mode)
            .map_err(|e| MpiError::new(ErrorClass::Intern, e.to_string()))?;
        // A receive posted since the last progress step may have matched a
        // rendezvous from a peer this rank never sent to: its reply needs a
        // route before the flush below pushes it.
        self.route_busy_peers()?;
        // Push eagerly: the common case sends with no further call (but
        // see `Router::defer_rts`).
        if self.router.defer_rts(&self.engine, peer, rid) {
            return Ok(rid);
        }
        self.router.flush(&mut self.engine)?;
        Ok(rid)
    }

    /// Gives every peer the engine has packets for a route.
    fn route_busy_peers(&mut self) -> MpiResult<()> {
        let unrouted: Vec<u32> = self.engine.busy_peers().filter(|&p| !self.router.is_routed(p)).collect();
        for peer in unrouted {
            self.ensure_route(peer)?;
        }
        Ok(())
    }

    /// Send a small message at once if it can go without a request (see
    /// [`Engine::inline_eager`]): true when the transport took it, and the
    /// send is complete. False: use [`Net::send`].
    pub fn send_inline(
        &mut self,
        peer: u32,
        ctx: u32,
        src: i32,
        tag: i32,
        data: &[u8],
        mode: SendMode,
    ) -> MpiResult<bool> {
        if mode == SendMode::Synchronous || !self.router.is_routed(peer) {
            return Ok(false);
        }
        let Some(hdr) = self.engine.inline_eager(peer, ctx, src, tag, data.len()) else {
            return Ok(false);
        };
        if self.router.try_send_now(peer, &hdr, data)? {
            return Ok(true);
        }
        self.engine.undo_inline_eager(peer, data.len());
        Ok(false)
    }

    /// Post a receive.
    pub fn recv(&mut self, ctx: u32, src: SrcSel, tag: TagSel, buf: RecvBuf) -> ReqId {
        self.engine.post_recv(ctx, src, tag, buf)
    }

    /// One progress step: receive, act, send. Returns whether anything moved.
    pub fn progress(&mut self) -> MpiResult<bool> {
        let got = self.router.poll(&mut self.engine)?;
        if !self.engine.has_output() {
            return Ok(got > 0);
        }
        // Replies (Cts, credit, acks) may be due to a peer this rank never
        // sent to: give it a route first.
        self.route_busy_peers()?;
        let sent = self.router.flush(&mut self.engine)?;
        Ok(got + sent > 0)
    }

    /// Whether packets wait for the transports (no sleeping then).
    pub fn has_output(&self) -> bool {
        self.engine.has_output() || self.router.has_loopback()
    }

    /// Descriptors to wait on while sleeping (transports and the PMI link).
    pub fn wait_fds(&self, out: &mut Vec<RawFd>) {
        self.router.wait_fds(out);
        if let Some(p) = &self.pmi {
            out.push(p.raw_fd());
        }
    }

    /// The launcher's end of the PMI link closed: it is gone, so is the job.
    pub fn pmi_hung_up(&self) -> bool {
        let Some(p) = &self.pmi else { return false };
        let mut b = [0u8; 1];
        // SAFETY: recv into a valid 1-byte buffer; MSG_PEEK leaves the data.
        let n = unsafe { libc::recv(p.raw_fd(), b.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        n == 0
    }
}
