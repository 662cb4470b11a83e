//! Posted-receive and unexpected-message queues, one pair per context id.
//!
//! Matching follows MPI's rules: an arriving message matches the earliest
//! posted receive whose selectors accept it; a new receive matches the
//! earliest-arrived unexpected message it accepts. Since transports deliver
//! each peer's packets in order, this keeps the non-overtaking rule.

use std::collections::{HashMap, VecDeque};

use super::request::ReqId;

/// Which source a receive accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrcSel {
    Any,
    Rank(i32),
}

/// Which tag a receive accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSel {
    Any,
    Tag(i32),
}

impl SrcSel {
    #[inline]
    pub(crate) fn accepts(self, src: i32) -> bool {
        match self {
            SrcSel::Any => true,
            SrcSel::Rank(r) => r == src,
        }
    }
}

impl TagSel {
    #[inline]
    pub(crate) fn accepts(self, tag: i32) -> bool {
        match self {
            TagSel::Any => true,
            TagSel::Tag(t) => t == tag,
        }
    }
}

/// What an unexpected message carries until a receive claims it.
#[derive(Debug)]
pub enum UnexpectedBody {
    /// The whole payload, copied out of the transport.
    Eager {
        data: Vec<u8>,
        /// Sender request to acknowledge when matched (synchronous send), or 0.
        sync_sreq: u64,
    },
    /// Only the envelope of a large message.
    Rts {
        sreq: u64,
        /// (pid, address) when the sender offers single-copy reads.
        single_copy: Option<(u64, u64)>,
        /// The sender also offers to write part of the message into the
        /// receive buffer (split copy).
        split_ok: bool,
    },
}

/// A message that arrived before any receive matched it.
#[derive(Debug)]
pub struct Unexpected {
    /// World rank of the sending process.
    pub peer: u32,
    /// Sender's rank in the communicator.
    pub src: i32,
    pub tag: i32,
    /// Full message length in bytes.
    pub len: u64,
    /// Eager credit this message holds at the receiver.
    pub cost: u64,
    pub body: UnexpectedBody,
}

#[derive(Debug)]
struct Posted {
    req: ReqId,
    src: SrcSel,
    tag: TagSel,
}

#[derive(Debug, Default)]
struct CtxQueues {
    posted: VecDeque<Posted>,
    unexpected: VecDeque<Unexpected>,
}

/// Hasher of context ids: every message looks its context up, and the
/// standard hasher (SipHash, made for untrusted keys) costs more than the
/// rest of matching. Context ids are small integers chosen by the runtime.
#[derive(Debug, Default, Clone, Copy)]
struct CtxHasher(u64);

impl std::hash::Hasher for CtxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        // Fibonacci hashing: the high bits, which hashbrown uses, depend on every bit of v.
        self.0 = (v as u64 ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type CtxMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<CtxHasher>>;

/// Context ids below this index a vector directly (the runtime's are: two
/// per communicator slot, a few thousand at most); others, a hash map.
const DENSE_CTX: u32 = 1 << 14;

/// The match queues of every context id.
#[derive(Debug, Default)]
pub struct MatchQueues {
    dense: Vec<CtxQueues>,
    sparse: CtxMap<CtxQueues>,
    unexpected_bytes: u64,
}

impl MatchQueues {
    fn queues(&self, ctx: u32) -> Option<&CtxQueues> {
        if ctx < DENSE_CTX {
            self.dense.get(ctx as usize)
        } else {
            self.sparse.get(&ctx)
        }
    }

    fn queues_mut(&mut self, ctx: u32) -> Option<&mut CtxQueues> {
        if ctx < DENSE_CTX {
            self.dense.get_mut(ctx as usize)
        } else {
            self.sparse.get_mut(&ctx)
        }
    }

    fn queues_or_new(&mut self, ctx: u32) -> &mut CtxQueues {
        if ctx < DENSE_CTX {
            let i = ctx as usize;
            if i >= self.dense.len() {
                self.dense.resize_with(i + 1, CtxQueues::default);
            }
            &mut self.dense[i]
        } else {
            self.sparse.entry(ctx).or_default()
        }
    }

    fn all(&self) -> impl Iterator<Item = (u32, &CtxQueues)> {
        self.dense.iter().enumerate().map(|(i, q)| (i as u32, q)).chain(self.sparse.iter().map(|(&c, q)| (c, q)))
    }

    /// Remove and return the earliest posted receive accepting (src, tag).
    #[inline]
    pub fn take_posted(&mut self, ctx: u32, src: i32, tag: i32) -> Option<ReqId> {
        let q = self.queues_mut(ctx)?;
        let first = q.posted.front()?;
        // The common case: the first receive posted takes it.
        if first.src.accepts(src) && first.tag.accepts(tag) {
            return q.posted.pop_front().map(|p| p.req);
        }
        let pos = q.posted.iter().position(|p| p.src.accepts(src) && p.tag.accepts(tag))?;
        q.posted.remove(pos).map(|p| p.req)
    }

    /// Whether no receive is posted on `ctx`.
    #[inline]
    pub fn no_posted(&self, ctx: u32) -> bool {
        self.queues(ctx).is_none_or(|q| q.posted.is_empty())
    }

    /// Whether nothing is queued on `ctx`: no posted receive, no unexpected message.
    #[inline]
    pub fn ctx_idle(&self, ctx: u32) -> bool {
        self.queues(ctx).is_none_or(|q| q.posted.is_empty() && q.unexpected.is_empty())
    }

    /// Queue a receive that found no unexpected message.
    pub fn push_posted(&mut self, ctx: u32, req: ReqId, src: SrcSel, tag: TagSel) {
        self.queues_or_new(ctx).posted.push_back(Posted { req, src, tag });
    }

    /// Remove a posted receive (cancel). Returns whether it was still posted.
    pub fn remove_posted(&mut self, ctx: u32, req: ReqId) -> bool {
        let Some(q) = self.queues_mut(ctx) else { return false };
        match q.posted.iter().position(|p| p.req == req) {
            Some(pos) => {
                q.posted.remove(pos);
                true
            }
            None => false,
        }
    }

    /// Queue a message no receive was waiting for.
    pub fn push_unexpected(&mut self, ctx: u32, msg: Unexpected) {
        if let UnexpectedBody::Eager { data, .. } = &msg.body {
            self.unexpected_bytes += data.len() as u64;
        }
        self.queues_or_new(ctx).unexpected.push_back(msg);
    }

    /// Remove and return the earliest unexpected message a receive accepts.
    pub fn take_unexpected(&mut self, ctx: u32, src: SrcSel, tag: TagSel) -> Option<Unexpected> {
        let q = self.queues_mut(ctx)?;
        if q.unexpected.is_empty() {
            return None;
        }
        let pos = q.unexpected.iter().position(|m| src.accepts(m.src) && tag.accepts(m.tag))?;
        let msg = q.unexpected.remove(pos)?;
        if let UnexpectedBody::Eager { data, .. } = &msg.body {
            self.unexpected_bytes -= data.len() as u64;
        }
        Some(msg)
    }

    /// Look at the earliest unexpected message a receive would accept.
    pub fn peek_unexpected(&self, ctx: u32, src: SrcSel, tag: TagSel) -> Option<&Unexpected> {
        self.queues(ctx)?.unexpected.iter().find(|m| src.accepts(m.src) && tag.accepts(m.tag))
    }

    /// Payload bytes held for unexpected eager messages (bounded by credits).
    pub fn unexpected_bytes(&self) -> u64 {
        self.unexpected_bytes
    }

    /// A one-line summary of the unexpected queues: (ctx, src, tag, len) of each.
    pub fn debug_summary(&self) -> String {
        let mut v = Vec::new();
        for (ctx, q) in self.all() {
            for m in &q.unexpected {
                let kind = match m.body {
                    UnexpectedBody::Eager { .. } => "eager",
                    UnexpectedBody::Rts { .. } => "rts",
                };
                v.push(format!("(ctx {ctx} src {} tag {} len {} {kind})", m.src, m.tag, m.len));
            }
            for p in &q.posted {
                v.push(format!("[posted ctx {ctx} {:?} {:?}]", p.src, p.tag));
            }
        }
        v.join(" ")
    }

    /// Number of receives posted and not yet matched.
    pub fn posted_count(&self) -> usize {
        self.all().map(|(_, q)| q.posted.len()).sum()
    }
}
