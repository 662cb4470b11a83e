//! Shared-memory transport between ranks on one node.
//!
//! Every rank owns one segment (`/dev/shm/rmpi-<job>-<rank>`, mode 0600)
//! holding its *inbound* queues: one ring (`ShmRing`, in `shm/ring.rs`) per local sender, plus a
//! `sleeping` flag. A sender maps the receiver's segment and produces into
//! the ring reserved for it, so every ring has exactly one producer and one
//! consumer and needs no locks. Sending and receiving make no system call;
//! the only one is the doorbell, rung when the receiver announced that it
//! sleeps (see [`crate::Transport::prepare_sleep`]).
//!
//! Back-pressure: a full ring answers `WouldBlock`. A rank whose sends are
//! blocked may still sleep: `prepare_sleep` then flags the full rings, and
//! the receiver rings the sender's doorbell when it frees space there
//! (see `shm/ring.rs`), so "retry after waking" never misses its moment.
//!
//! Life cycle, driven by the runtime:
//! 1. [`ShmTransport::create`] makes and maps the segment and binds the
//!    doorbell; the runtime publishes [`ShmTransport::card`] in the KVS.
//! 2. [`ShmTransport::attach`] for every other local rank, with its card.
//! 3. A PMI fence among the local ranks (so every rank has mapped every
//!    segment), then [`ShmTransport::unlink`]: a crash from then on leaves
//!    nothing in `/dev/shm`. Drop also unlinks if still linked.
//!
//! Card format: `shm1,<segment name>,<pid>` (the doorbell's abstract socket
//! name is `<segment name>.<pid>`).

mod doorbell;
mod ring;
mod segment;

pub use segment::create_private;

use std::os::fd::RawFd;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use crate::{Caps, Counters, Rank, Transport, TransportError};
use doorbell::{doorbell_name, Doorbell, DoorbellAddr};
use ring::{RingConsumer, RingProducer};
use segment::{Mapping, OwnSegment};

/// Default data bytes of each inbound ring (`RMPI_SHM_RING_BYTES`).
pub const DEFAULT_RING_BYTES: usize = 256 * 1024;
/// Smallest accepted ring size.
pub const MIN_RING_BYTES: usize = 4096;
/// Suggested eager limit for shared memory.
pub const EAGER_LIMIT: usize = 16 * 1024;

/// Packets delivered from one peer before moving to the next one.
const BATCH_PER_PEER: usize = 32;
/// Packets delivered by one `poll` at most (bounds its latency).
const POLL_BUDGET: usize = 4096;

/// Values of the `sleeping` flag.
const AWAKE: u32 = 0;
const SLEEPING: u32 = 1;
/// A sender already rang for this sleep; others need not.
const RUNG: u32 = 2;

/// How to build a [`ShmTransport`].
#[derive(Debug, Clone)]
pub struct ShmConfig {
    /// Job id (from PMI); sanitized to `[A-Za-z0-9._-]` for file names.
    pub job: String,
    /// This rank (world rank).
    pub rank: Rank,
    /// Sorted world ranks on this node, including this one. Must be the same
    /// list on every local rank: ring `i` of a segment belongs to
    /// `local_ranks[i]`.
    pub local_ranks: Vec<Rank>,
}

/// Make `job` safe for a file name: `[A-Za-z0-9._-]` only, not empty, at
/// most 64 bytes (longer ids keep a prefix and a hash of the whole).
pub fn sanitize_job(job: &str) -> String {
    let mut s: String =
        job.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, 'j');
    }
    if s.len() > 64 {
        // FNV-1a of the original id keeps distinct long ids distinct.
        let h = job.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        s = format!("{}-{h:016x}", &s[..47]);
    }
    s
}

/// What this rank keeps to send to one local peer.
struct PeerOut {
    /// Keeps the peer's segment mapped while `ring` points into it.
    map: Mapping,
    ring: RingProducer,
    doorbell: DoorbellAddr,
}

impl PeerOut {
    fn sleeping(&self) -> &AtomicU32 {
        self.map.sleeping()
    }
}

/// Shared-memory transport to the ranks of this node. See the module docs.
pub struct ShmTransport {
    caps: Caps,
    rank: Rank,
    local_ranks: Vec<Rank>,
    /// Local index of each world rank up to the largest local one
    /// (`usize::MAX`: not local); a send looks its peer up here.
    index_of: Vec<usize>,
    seg_name: String,
    /// Sanitized job id (peers' segment and doorbell names derive from it).
    job: String,
    /// Per local index: size of a packet that last got `WouldBlock` there
    /// (the runtime holds it and will retry), so `prepare_sleep` can ask to
    /// be woken when room appears.
    blocked: Vec<Option<usize>>,
    /// Declared before `seg` so the rings are dropped before the mapping.
    inbound: Vec<Option<RingConsumer>>,
    outbound: Vec<Option<PeerOut>>,
    seg: OwnSegment,
    doorbell: Doorbell,
    rr_next: usize,
    counters: Counters,
}

impl ShmTransport {
    /// Create this rank's segment and doorbell. The ring size comes from
    /// `RMPI_SHM_RING_BYTES` (default [`DEFAULT_RING_BYTES`]).
    pub fn create(cfg: ShmConfig) -> Result<Self, TransportError> {
        Self::create_with_ring_bytes(cfg, None)
    }

    /// [`ShmTransport::create`] with an explicit ring size (data bytes per
    /// inbound ring, rounded up to a multiple of 64 (a cache line), at least
    /// [`MIN_RING_BYTES`]); `None` means the environment or the default.
    /// The receiver's segment decides the size of its rings, so ranks may
    /// differ without harm.
    pub fn create_with_ring_bytes(cfg: ShmConfig, ring_bytes: Option<usize>) -> Result<Self, TransportError> {
        let invalid =
            |m: String| TransportError::io("shm config", std::io::Error::new(std::io::ErrorKind::InvalidInput, m));
        if !cfg.local_ranks.windows(2).all(|w| w[0] < w[1]) {
            return Err(invalid("local_ranks must be sorted and distinct".into()));
        }
        let my_index = cfg
            .local_ranks
            .binary_search(&cfg.rank)
            .map_err(|_| invalid(format!("rank {} is not in local_ranks", cfg.rank)))?;
        let ring_bytes = match ring_bytes {
            Some(b) => b,
            None => match std::env::var("RMPI_SHM_RING_BYTES") {
                Ok(v) => v.trim().parse().map_err(|_| invalid(format!("RMPI_SHM_RING_BYTES={v} is not a number")))?,
                Err(_) => DEFAULT_RING_BYTES,
            },
        }
        .max(MIN_RING_BYTES)
        .next_multiple_of(ring::RECORD_ALIGN as usize);
        let n = cfg.local_ranks.len();
        let job = sanitize_job(&cfg.job);
        let seg_name = format!("rmpi-{job}-{}", cfg.rank);
        let seg = OwnSegment::create(&seg_name, n, ring_bytes, cfg.rank)?;
        let doorbell = Doorbell::bind(&doorbell_name(&seg_name, std::process::id()))?;
        let mut inbound = Vec::with_capacity(n);
        for i in 0..n {
            if i == my_index {
                inbound.push(None);
                continue;
            }
            let base = seg.map.ring_base(i).expect("ring inside own segment");
            // SAFETY: `base` is ring i of our own mapping, which lives in
            // `seg` and is dropped after `inbound` (field order); we are
            // the only consumer of our own rings.
            inbound.push(Some(unsafe { RingConsumer::new(base, ring_bytes) }));
        }
        seg.map.sleeping().store(AWAKE, Ordering::Relaxed);
        Ok(ShmTransport {
            caps: Caps {
                name: "shm",
                max_packet: ring::max_packet(ring_bytes),
                eager_limit: EAGER_LIMIT,
                single_copy: crate::cma::probe(),
            },
            rank: cfg.rank,
            index_of: {
                let top = cfg.local_ranks.last().map_or(0, |&r| r as usize + 1);
                let mut v = vec![usize::MAX; top];
                for (i, &r) in cfg.local_ranks.iter().enumerate() {
                    v[r as usize] = i;
                }
                v
            },
            local_ranks: cfg.local_ranks,
            seg_name,
            job,
            blocked: vec![None; n],
            inbound,
            outbound: (0..n).map(|_| None).collect(),
            seg,
            doorbell,
            rr_next: 0,
            counters: Counters::default(),
        })
    }

    /// What a local peer needs to attach: `shm1,<segment name>,<pid>`.
    pub fn card(&self) -> String {
        format!("shm1,{},{}", self.seg_name, std::process::id())
    }

    /// Map `peer`'s segment (from its card) so we can send to it. Receiving
    /// from a peer needs no attach. Attaching twice is a no-op.
    pub fn attach(&mut self, peer: Rank, card: &str) -> Result<(), TransportError> {
        let idx = self.local_ranks.binary_search(&peer).map_err(|_| TransportError::UnknownPeer(peer))?;
        if peer == self.rank {
            return Err(TransportError::UnknownPeer(peer));
        }
        if self.outbound[idx].is_some() {
            return Ok(());
        }
        let (name, pid) = parse_card(card)?;
        let my_index = self.local_ranks.binary_search(&self.rank).expect("own rank is local");
        let map = segment::attach(&name, peer, pid, self.local_ranks.len())?;
        let h = map.header();
        let base = map.ring_base(my_index).ok_or_else(|| TransportError::BadCard("ring out of range".into()))?;
        // SAFETY: `base` is our ring inside the peer's mapping, which is
        // kept alive by `PeerOut::map` alongside the producer; the ring
        // reserved for our local index has no other producer.
        let ring = unsafe { RingProducer::new(base, h.ring_bytes as usize) };
        let doorbell = DoorbellAddr::new(&doorbell_name(&name, pid))?;
        self.outbound[idx] = Some(PeerOut { map, ring, doorbell });
        Ok(())
    }

    /// Remove our segment's name from `/dev/shm`. Call it once every local
    /// rank has attached (after a fence); the mappings stay valid.
    pub fn unlink(&mut self) -> Result<(), TransportError> {
        self.seg.unlink()
    }

    /// Whether our segment's file still exists under `/dev/shm`.
    pub fn is_linked(&self) -> bool {
        self.seg.is_linked()
    }

    /// Path of our segment (for diagnostics and tests).
    pub fn segment_path(&self) -> std::path::PathBuf {
        std::path::Path::new("/dev/shm").join(&self.seg_name)
    }

    /// This rank.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Whether `peer` has been attached (so `try_send` to it can work).
    pub fn is_attached(&self, peer: Rank) -> bool {
        self.local_ranks.binary_search(&peer).is_ok_and(|i| self.outbound[i].is_some())
    }

    /// [`Transport::poll`] with one local peer (two ranks on the node):
    /// its ring only, a batch at a time until it is empty.
    fn poll_one_peer(&mut self, deliver: &mut dyn FnMut(Rank, &[u8])) -> Result<usize, TransportError> {
        let i = if self.inbound[0].is_some() { 0 } else { 1 };
        let src = self.local_ranks[i];
        let Some(ring) = self.inbound[i].as_mut() else { return Ok(0) };
        let mut total = 0usize;
        let mut bytes = 0u64;
        let mut result = Ok(());
        while total < POLL_BUDGET {
            match ring.pop_with(|p| {
                bytes += p.len() as u64;
                deliver(src, p)
            }) {
                Ok(true) => total += 1,
                Ok(false) => break,
                Err(ring::CorruptRing) => {
                    result = Err(TransportError::PeerGone { peer: src, reason: "corrupt shared-memory ring".into() });
                    break;
                }
            }
        }
        if result.is_err() {
            // Stop reading this ring for good.
            self.inbound[i] = None;
        } else if ring.take_freed() {
            // We freed space: wake the producer if it sleeps on it.
            if let Some(pid) = ring.producer_to_wake().filter(|&pid| pid != 0) {
                self.wake_producer(src, pid);
            }
        }
        self.counters.packets_received += total as u64;
        self.counters.bytes_received += bytes;
        result.map(|()| total)
    }

    /// Record the CPU this rank runs on in its segment (where its peers
    /// look), and say whether an attached peer was last seen waiting on the
    /// same CPU. Two ranks that spin and yield on one CPU while others idle
    /// stay there (each looks cache-hot to the kernel's balancer); the
    /// runtime then moves itself (see `rmpi_runtime`'s waiting loop).
    pub fn shares_cpu(&mut self) -> bool {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu < 0 {
            return false;
        }
        let v = cpu as u32 + 1;
        let own = self.seg.map.cpu();
        if own.load(Ordering::Relaxed) != v {
            own.store(v, Ordering::Relaxed);
        }
        self.outbound.iter().flatten().any(|out| out.map.cpu().load(Ordering::Relaxed) == v)
    }

    /// Ring the doorbell of local rank `src` (process `pid`), which waits for room in our ring.
    fn wake_producer(&mut self, src: Rank, pid: u32) {
        let name = doorbell_name(&format!("rmpi-{}-{src}", self.job), pid);
        if let Ok(addr) = DoorbellAddr::new(&name) {
            let _ = self.doorbell.ring(&addr);
            self.counters.doorbells_rung += 1;
        }
    }

    /// Whether a record waits in some inbound ring (one load per ring).
    #[inline]
    pub fn has_input(&mut self) -> bool {
        self.any_inbound()
    }

    /// Whether local `peer`'s ring holds a record (a load of its header word).
    #[inline]
    pub fn has_input_from(&mut self, peer: Rank) -> bool {
        let Some(&idx) = self.index_of.get(peer as usize) else { return false };
        self.inbound.get_mut(idx).and_then(|r| r.as_mut()).is_some_and(|r| r.has_data())
    }

    /// Whether a ring other than local `peer`'s holds a record.
    pub fn has_input_besides(&mut self, peer: Rank) -> bool {
        let skip = self.index_of.get(peer as usize).copied().unwrap_or(usize::MAX);
        self.inbound.iter_mut().enumerate().any(|(i, r)| i != skip && r.as_mut().is_some_and(|r| r.has_data()))
    }

    /// Show the oldest packet from local `peer` to `take`, and consume it
    /// only if `take` answers true (the direct receive). Returns whether a
    /// packet was taken; a damaged ring answers false and is left for
    /// [`Transport::poll`] to report.
    pub fn take_from_if(&mut self, peer: Rank, take: impl FnOnce(&[u8]) -> bool) -> bool {
        let Some(&idx) = self.index_of.get(peer as usize) else { return false };
        let Some(ring) = self.inbound.get_mut(idx).and_then(|r| r.as_mut()) else { return false };
        let mut bytes = 0;
        let taken = ring.pop_if(|p| {
            bytes = p.len();
            take(p)
        });
        if !matches!(taken, Ok(true)) {
            return false;
        }
        if ring.take_freed() {
            // We freed space: wake the producer if it sleeps on it.
            if let Some(pid) = ring.producer_to_wake().filter(|&pid| pid != 0) {
                self.wake_producer(peer, pid);
            }
        }
        self.counters.packets_received += 1;
        self.counters.bytes_received += bytes as u64;
        true
    }

    /// Where local `peer` announces that it sleeps (its segment's
    /// `sleeping` word), for code that publishes in shared memory of its own
    /// (the runtime's shared-memory collectives) and must wake a peer that
    /// waits for it. Valid while this transport lives; `None` if `peer` is
    /// not attached. Compare against [`ShmTransport::is_sleeping_value`].
    pub fn sleep_word(&self, peer: Rank) -> Option<*const AtomicU32> {
        let idx = *self.index_of.get(peer as usize)?;
        let out = self.outbound.get(idx)?.as_ref()?;
        Some(out.sleeping() as *const AtomicU32)
    }

    /// Whether local `peer` announced that it sleeps (rung or not yet):
    /// a hint, stale as soon as it is read.
    pub fn peer_sleeps(&self, peer: Rank) -> bool {
        let Some(&idx) = self.index_of.get(peer as usize) else { return false };
        let Some(Some(out)) = self.outbound.get(idx) else { return false };
        out.sleeping().load(Ordering::Relaxed) != AWAKE
    }

    /// Whether a value read from a [`ShmTransport::sleep_word`] means the
    /// peer sleeps and nobody rang it yet.
    pub fn is_sleeping_value(v: u32) -> bool {
        v == SLEEPING
    }

    /// Ring `peer`'s doorbell if it announced that it sleeps and nobody
    /// rang it yet (as a send does). The caller published what the peer
    /// waits for and then issued a `SeqCst` fence, which pairs with the one
    /// in `prepare_sleep`.
    pub fn wake(&mut self, peer: Rank) -> Result<(), TransportError> {
        let idx = match self.index_of.get(peer as usize) {
            Some(&i) if i != usize::MAX => i,
            _ => return Err(TransportError::UnknownPeer(peer)),
        };
        self.ring_if_asleep(idx)
    }

    /// Ring the doorbell of the peer behind outbound slot `idx` if it
    /// announced that it sleeps and nobody rang it yet. The caller has
    /// published what the peer waits for and issued a `SeqCst` fence.
    fn ring_if_asleep(&mut self, idx: usize) -> Result<(), TransportError> {
        let Some(out) = self.outbound[idx].as_ref() else { return Ok(()) };
        let flag = out.sleeping();
        if flag.load(Ordering::Relaxed) == SLEEPING
            && flag.compare_exchange(SLEEPING, RUNG, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            self.doorbell.ring(&out.doorbell)?;
            self.counters.doorbells_rung += 1;
        }
        Ok(())
    }

    fn any_inbound(&mut self) -> bool {
        self.inbound.iter_mut().flatten().any(|r| r.has_data())
    }
}

/// Parse `shm1,<name>,<pid>`.
fn parse_card(card: &str) -> Result<(String, u32), TransportError> {
    let bad = || TransportError::BadCard(format!("not an shm card: {card:?}"));
    let mut it = card.split(',');
    if it.next() != Some("shm1") {
        return Err(bad());
    }
    let name = it.next().ok_or_else(bad)?;
    let pid: u32 = it.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    if it.next().is_some()
        || !name.starts_with("rmpi-")
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(bad());
    }
    Ok((name.to_string(), pid))
}

impl Transport for ShmTransport {
    fn caps(&self) -> &Caps {
        &self.caps
    }

    fn try_send(&mut self, peer: Rank, parts: &[&[u8]]) -> Result<(), TransportError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > self.caps.max_packet {
            return Err(TransportError::TooLarge(len));
        }
        let idx = match self.index_of.get(peer as usize) {
            Some(&i) if i != usize::MAX => i,
            _ => return Err(TransportError::UnknownPeer(peer)),
        };
        let out = self.outbound[idx].as_mut().ok_or(TransportError::UnknownPeer(peer))?;
        if !out.ring.push(parts, len) {
            self.blocked[idx] = Some(len);
            return Err(TransportError::WouldBlock);
        }
        self.blocked[idx] = None;
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += len as u64;
        // Pairs with the fence in prepare_sleep: either the receiver sees
        // our head, or we see its flag.
        fence(Ordering::SeqCst);
        self.ring_if_asleep(idx)
    }

    fn poll(&mut self, deliver: &mut dyn FnMut(Rank, &[u8])) -> Result<usize, TransportError> {
        // The common case while a rank waits: every ring is empty.
        if !self.any_inbound() {
            return Ok(0);
        }
        let n = self.inbound.len();
        if n == 2 {
            return self.poll_one_peer(deliver);
        }
        let mut total = 0usize;
        let mut bytes = 0u64;
        let start = self.rr_next;
        self.rr_next = if start + 1 >= n { 0 } else { start + 1 };
        let mut result = Ok(());
        'rounds: loop {
            let mut round = 0;
            // A ring that gave a whole batch may hold more: go round again.
            let mut more = false;
            let mut i = start;
            for _ in 0..n {
                let this = i;
                i = if i + 1 == n { 0 } else { i + 1 };
                let i = this;
                let Some(ring) = self.inbound[i].as_mut() else {
                    continue;
                };
                let src = self.local_ranks[i];
                let before = round;
                for _ in 0..BATCH_PER_PEER {
                    match ring.pop_with(|p| {
                        bytes += p.len() as u64;
                        deliver(src, p)
                    }) {
                        Ok(true) => round += 1,
                        Ok(false) => break,
                        Err(ring::CorruptRing) => {
                            // Stop reading this ring for good.
                            self.inbound[i] = None;
                            result = Err(TransportError::PeerGone {
                                peer: src,
                                reason: "corrupt shared-memory ring".into(),
                            });
                            break;
                        }
                    }
                }
                more |= round - before == BATCH_PER_PEER;
                // We freed space: wake the producer if it sleeps on it.
                let woke = match self.inbound[i].as_mut() {
                    Some(ring) => ring.take_freed().then(|| ring.producer_to_wake()).flatten(),
                    None => None,
                };
                if let Some(pid) = woke.filter(|&pid| pid != 0) {
                    self.wake_producer(src, pid);
                }
            }
            total += round;
            if !more || total >= POLL_BUDGET || result.is_err() {
                break 'rounds;
            }
        }
        self.counters.packets_received += total as u64;
        self.counters.bytes_received += bytes;
        result.map(|()| total)
    }

    fn prepare_sleep(&mut self) -> bool {
        self.seg.map.sleeping().store(SLEEPING, Ordering::SeqCst);
        // Pairs with the fence after a sender's push.
        fence(Ordering::SeqCst);
        if self.any_inbound() {
            return false;
        }
        // Sends that met a full ring: ask the receiver to wake us when it
        // frees space, unless there is room already.
        for idx in 0..self.blocked.len() {
            if let (Some(len), Some(out)) = (self.blocked[idx], self.outbound[idx].as_mut()) {
                if out.ring.wait_for_room(len) {
                    // Retry now; ask again only if it blocks again.
                    self.blocked[idx] = None;
                    return false;
                }
            }
        }
        true
    }

    fn wait_fds(&self, out: &mut Vec<RawFd>) {
        out.push(self.doorbell.fd());
    }

    fn end_sleep(&mut self) {
        self.seg.map.sleeping().store(AWAKE, Ordering::SeqCst);
        self.doorbell.drain();
    }

    fn counters(&self) -> Counters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_safe_chars_and_bounds_length() {
        assert_eq!(sanitize_job("job.1_a-B"), "job.1_a-B");
        assert_eq!(sanitize_job("a b/c;d"), "a_b_c_d");
        assert_eq!(sanitize_job(""), "j");
        assert_eq!(sanitize_job(".."), "j..");
        let long = "x".repeat(200);
        let s = sanitize_job(&long);
        assert!(s.len() <= 64, "{s}");
        assert_ne!(s, sanitize_job(&"x".repeat(201)));
    }

    #[test]
    fn card_round_trips_and_rejects_garbage() {
        assert_eq!(parse_card("shm1,rmpi-j-3,42").unwrap(), ("rmpi-j-3".to_string(), 42));
        for bad in [
            "",
            "shm1",
            "shm2,rmpi-j-3,42",
            "shm1,rmpi-j-3",
            "shm1,../etc,1",
            "shm1,rmpi-a/b,1",
            "shm1,rmpi-j-3,x",
            "shm1,rmpi-j,1,2",
        ] {
            assert!(matches!(parse_card(bad), Err(TransportError::BadCard(_))), "{bad}");
        }
    }
}
