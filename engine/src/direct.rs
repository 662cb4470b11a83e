//! The direct receive: a blocking receive that is not posted takes a plain
//! eager packet straight from its transport (the packet still lies in the
//! shared-memory ring) into the user's buffer. It is the same match the
//! general path would make, taken only when no other receive could claim
//! the packet first, so MPI's ordering and matching rules hold unchanged.

use crate::matching::TagSel;
use crate::wire::{Header, Kind};
use crate::{Engine, Status, ENVELOPE_COST};

impl Engine {
    /// Whether a blocking receive on `ctx` may use [`Engine::direct_eager`]:
    /// nothing is queued on the context (no posted receive, which would come
    /// first, and no unexpected message, which would be older).
    #[inline]
    pub fn direct_ready(&self, ctx: u32) -> bool {
        self.queues.ctx_idle(ctx)
    }

    /// Offer `pkt`, the next packet from world rank `from`, to a blocking
    /// receive of (`ctx`, `src`, `tag`) into `buf` that was never posted
    /// (the caller checked [`Engine::direct_ready`] under the same lock).
    /// A plain (not synchronous) eager message that the receive accepts is
    /// copied into `buf` (truncated to it; the status says so) and its
    /// credit is owed back as usual: the caller then consumes the packet.
    /// Anything else answers `None` and is left for the general path.
    pub fn direct_eager(
        &mut self,
        from: u32,
        pkt: &[u8],
        ctx: u32,
        src: i32,
        tag: TagSel,
        buf: &mut [u8],
    ) -> Option<Status> {
        if from as usize >= self.peers.len() {
            return None;
        }
        let (h, header_len) = Header::decode_with_len(pkt)?;
        let payload = &pkt[header_len..];
        // `a` names a synchronous send's request: it wants an acknowledgement.
        if h.kind != Kind::Eager || h.a != 0 || h.ctx != ctx || h.src != src || !tag.accepts(h.tag) {
            return None;
        }
        if payload.len() as u64 != h.len || !self.queues.ctx_idle(ctx) {
            return None;
        }
        let n = payload.len().min(buf.len());
        buf[..n].copy_from_slice(&payload[..n]);
        self.completions += 1;
        self.owe(from, h.len + ENVELOPE_COST);
        Some(Status { source: h.src, tag: h.tag, count: n, truncated: payload.len() > buf.len(), cancelled: false })
    }
}
