//! `ShmRing`: a single-producer single-consumer ring of variable-length
//! packets in shared memory.
//!
//! The ring header holds two monotonically increasing byte counters, `head`
//! (written only by the producer) and `tail` (written only by the consumer),
//! each on its own pair of cache lines so the two sides never false-share.
//! Records start on a cache line (64 bytes) and take whole lines: an 8-byte
//! record header (`len: u32`, `kind: u32`, never zero) followed by the
//! payload. A record never straddles the end of the data area: when it
//! would, the producer writes a wrap marker and starts the record at offset
//! 0, so the consumer always hands out one contiguous borrowed slice.
//!
//! Publication is by the record header itself, so a small message costs the
//! consumer one cache line: the producer writes the payload, then the header
//! word with a Release store; the consumer polls the header word at its
//! `tail` (Acquire) and finds either zero (nothing yet) or a whole record.
//! For that, every line's first word is zero whenever the producer may
//! write there: the ring starts zeroed, and the consumer zeroes the first
//! word of each line it consumed (records and wrap markers) before it frees
//! the space with a Release store of `tail`; the producer Acquire-loads
//! `tail` before reusing space. `head` is kept for diagnostics only.
//!
//! The consumer frees space in batches of [`free_batch`] bytes (an eighth
//! of the ring), not per record: zeroing a line the producer also holds
//! must invalidate the producer's copy, and the fence that follows a free
//! (below) would wait for that round trip between the cores on every
//! message, on the receiver's critical path. Freeing late costs the
//! producer at most a batch of room. It cannot stall it: a producer that
//! finds the ring full sees more than half of it in use (a packet needs at
//! most a quarter, twice with a wrap), so records the consumer has not yet
//! read remain, and by the time it has read them all it has freed a batch.
//!
//! A third line holds `producer_waiting` and the producer's pid: a producer
//! that found the ring full and wants to sleep sets the flag (then a SeqCst
//! fence, then re-checks `tail`); a consumer that freed space does a SeqCst
//! fence, and if the flag is set clears it and rings the producer's
//! doorbell. Either the producer sees the space or the consumer sees the
//! flag, so a blocked sender can sleep without missing the moment it may
//! continue.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Bytes of ring header before the data area (head and tail lines).
pub(crate) const RING_HEADER_BYTES: usize = 384;
const HEAD_OFFSET: usize = 0;
const TAIL_OFFSET: usize = 128;
const WAITING_OFFSET: usize = 256;
const PRODUCER_PID_OFFSET: usize = 260;
const RECORD_HEADER: u64 = 8;
/// Records start on a cache line and take whole lines.
pub(crate) const RECORD_ALIGN: u64 = 64;
const KIND_PACKET: u32 = 1;
const KIND_WRAP: u32 = 2;

/// Largest packet a ring of `ring_bytes` accepts: a quarter of the ring, so
/// a packet plus a wrap marker always fits into an empty ring.
pub(crate) fn max_packet(ring_bytes: usize) -> usize {
    ring_bytes / 4
}

/// Bytes the consumer reads before it frees them (see the module docs).
pub(crate) fn free_batch(ring_bytes: usize) -> u64 {
    (ring_bytes as u64 / 8).next_multiple_of(RECORD_ALIGN)
}

fn record_bytes(len: usize) -> u64 {
    (RECORD_HEADER + len as u64).next_multiple_of(RECORD_ALIGN)
}

/// Pointers shared by both ends.
#[derive(Clone, Copy)]
struct RingPtrs {
    head: *const AtomicU64,
    tail: *const AtomicU64,
    waiting: *const AtomicU32,
    producer_pid: *const AtomicU32,
    data: *mut u8,
    cap: u64,
}

impl RingPtrs {
    /// # Safety
    /// `base` must point to a ring header followed by `cap` data bytes, in a
    /// mapping that outlives every use of the returned pointers, with `base`
    /// 128-byte aligned and `cap` a non-zero multiple of [`RECORD_ALIGN`].
    unsafe fn new(base: *mut u8, cap: usize) -> Self {
        RingPtrs {
            // SAFETY (for the adds): offsets lie inside the header and data
            // area the caller vouched for, and are aligned for their types.
            head: base.add(HEAD_OFFSET) as *const AtomicU64,
            tail: base.add(TAIL_OFFSET) as *const AtomicU64,
            waiting: base.add(WAITING_OFFSET) as *const AtomicU32,
            producer_pid: base.add(PRODUCER_PID_OFFSET) as *const AtomicU32,
            data: base.add(RING_HEADER_BYTES),
            cap: cap as u64,
        }
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: aligned, in-bounds, lives as long as the mapping (see new).
        unsafe { &*self.head }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: aligned, in-bounds, lives as long as the mapping (see new).
        unsafe { &*self.tail }
    }

    fn waiting(&self) -> &AtomicU32 {
        // SAFETY: aligned, in-bounds, lives as long as the mapping (see new).
        unsafe { &*self.waiting }
    }

    fn producer_pid(&self) -> &AtomicU32 {
        // SAFETY: aligned, in-bounds, lives as long as the mapping (see new).
        unsafe { &*self.producer_pid }
    }

    /// Write `bytes` at data offset `pos` (caller guarantees the range is
    /// within the data area and owned by the producer).
    fn write(&self, pos: u64, bytes: &[u8]) {
        debug_assert!(pos + bytes.len() as u64 <= self.cap);
        // SAFETY: the range is inside the data area (caller) and not read by
        // the consumer until published by the Release store of head.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(pos as usize), bytes.len()) };
    }

    /// Map the whole ring (header and data) into this process's page
    /// tables at once. Without it the first lap through a fresh ring takes
    /// a page fault every 64 records on each side, which made the first
    /// ~4000 small messages of a job run at about twice their later cost.
    /// Done lazily, at the first packet, so that rings of pairs that never
    /// talk stay unallocated in the sparse segment file.
    fn populate(&self) {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        // From the page holding the ring's header to the page holding its
        // last data byte: pages the segment file covers (at least in part)
        // and the mapping holds.
        let first = self.data as usize - RING_HEADER_BYTES;
        let start = first - first % page;
        let len = (self.data as usize + self.cap as usize).next_multiple_of(page) - start;
        let base = start as *mut u8;
        // SAFETY: [base, base+len) lies inside the mapping (see above);
        // MADV_POPULATE_WRITE only faults pages in, it changes no contents.
        let rc = unsafe { libc::madvise(base.cast(), len, libc::MADV_POPULATE_WRITE) };
        if rc != 0 {
            // Older kernels (before 5.14): touch a byte of every page. A
            // read maps a shared tmpfs page writable, and changes nothing.
            for off in (0..len).step_by(page) {
                // SAFETY: in bounds as above; a volatile read of one byte.
                unsafe { std::ptr::read_volatile(base.add(off)) };
            }
        }
    }

    /// The record header word at data offset `pos` (a multiple of
    /// [`RECORD_ALIGN`]): the publication point of a record.
    fn header_word(&self, pos: u64) -> &AtomicU64 {
        debug_assert!(pos + RECORD_HEADER <= self.cap && pos.is_multiple_of(RECORD_ALIGN));
        // SAFETY: pos is line-aligned and inside the data area, so the word
        // is aligned for AtomicU64 and lives as long as the mapping (new).
        unsafe { &*(self.data.add(pos as usize) as *const AtomicU64) }
    }
}

/// The producing end of a ring (lives in the sender, points into the
/// receiver's segment).
pub(crate) struct RingProducer {
    p: RingPtrs,
    head: u64,
    /// `head % cap`, kept alongside (no division on the hot path).
    pos: u64,
    cached_tail: u64,
    /// The ring's pages are in this process's page tables ([`RingPtrs::populate`]).
    populated: bool,
}

// SAFETY: the raw pointers address shared memory that the owning transport
// keeps mapped; access is through atomics and the SPSC protocol, which does
// not depend on the thread.
unsafe impl Send for RingProducer {}

impl RingProducer {
    /// # Safety
    /// As for the ring layout: `base` points to a ring header plus `cap`
    /// data bytes in a mapping that outlives this producer, and no other
    /// producer exists for this ring.
    pub unsafe fn new(base: *mut u8, cap: usize) -> Self {
        // SAFETY: forwarded caller contract.
        let p = unsafe { RingPtrs::new(base, cap) };
        let head = p.head().load(Ordering::Relaxed);
        let cached_tail = p.tail().load(Ordering::Acquire);
        p.producer_pid().store(std::process::id(), Ordering::Release);
        RingProducer { p, head, pos: head % cap as u64, cached_tail, populated: false }
    }

    /// Bytes a packet of `len` bytes needs at the current head (including
    /// a wrap marker if it must wrap).
    fn need(&self, len: usize) -> u64 {
        let rec = record_bytes(len);
        let to_end = self.p.cap - self.pos;
        if rec <= to_end {
            rec
        } else {
            to_end + rec
        }
    }

    /// Announce that the producer waits for room for a `len`-byte packet
    /// and may sleep. Returns `true` if there is room already (then it
    /// must not sleep). See the module docs for the protocol.
    pub fn wait_for_room(&mut self, len: usize) -> bool {
        self.p.waiting().store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.cached_tail = self.p.tail().load(Ordering::Acquire);
        self.head + self.need(len) - self.cached_tail <= self.p.cap
    }

    /// Append one packet made of `parts` (total `len` bytes, at most
    /// [`max_packet`]). Returns `false` if the ring has no room now.
    pub fn push(&mut self, parts: &[&[u8]], len: usize) -> bool {
        if !self.populated {
            self.populated = true;
            self.p.populate();
        }
        let cap = self.p.cap;
        let rec = record_bytes(len);
        let pos = self.pos;
        let to_end = cap - pos;
        let need = self.need(len);
        if self.head + need - self.cached_tail > cap {
            self.cached_tail = self.p.tail().load(Ordering::Acquire);
            if self.head + need - self.cached_tail > cap {
                return false;
            }
        }
        let mut pos = pos;
        if rec > to_end {
            self.p.header_word(pos).store(header_word(0, KIND_WRAP), Ordering::Release);
            self.head += to_end;
            pos = 0;
        }
        let mut at = pos + RECORD_HEADER;
        for part in parts {
            self.p.write(at, part);
            at += part.len() as u64;
        }
        // Publish: the consumer polls this word.
        self.p.header_word(pos).store(header_word(len as u32, KIND_PACKET), Ordering::Release);
        self.head += rec;
        self.pos = if pos + rec == cap { 0 } else { pos + rec };
        self.p.head().store(self.head, Ordering::Relaxed);
        true
    }
}

fn header_word(len: u32, kind: u32) -> u64 {
    len as u64 | (kind as u64) << 32
}

/// A record the consumer found that breaks the format (only a buggy or
/// hostile same-user process can cause it).
#[derive(Debug)]
pub(crate) struct CorruptRing;

/// The consuming end of a ring (lives in the receiver, in its own segment).
pub(crate) struct RingConsumer {
    p: RingPtrs,
    /// Bytes consumed (read and handed out).
    tail: u64,
    /// `tail % cap`, kept alongside (no division on the hot path).
    pos: u64,
    /// Bytes freed: the value of the shared `tail` counter.
    freed: u64,
    /// `freed % cap`.
    freed_pos: u64,
    /// Free once this many bytes are consumed and not freed.
    batch: u64,
    /// Space was freed since [`RingConsumer::take_freed`] last looked.
    freed_since: bool,
    /// The ring's pages are in this process's page tables ([`RingPtrs::populate`]).
    populated: bool,
}

// SAFETY: as for RingProducer.
unsafe impl Send for RingConsumer {}

impl RingConsumer {
    /// # Safety
    /// As for [`RingProducer::new`], with "consumer" for "producer"; the
    /// data area must be zeroed (a fresh segment is).
    pub unsafe fn new(base: *mut u8, cap: usize) -> Self {
        // SAFETY: forwarded caller contract.
        let p = unsafe { RingPtrs::new(base, cap) };
        let tail = p.tail().load(Ordering::Relaxed);
        let pos = tail % cap as u64;
        RingConsumer {
            p,
            tail,
            pos,
            freed: tail,
            freed_pos: pos,
            batch: free_batch(cap),
            freed_since: false,
            populated: false,
        }
    }

    /// Whether space was freed since the last call (then the caller checks
    /// [`RingConsumer::producer_to_wake`]).
    pub fn take_freed(&mut self) -> bool {
        std::mem::replace(&mut self.freed_since, false)
    }

    /// Free everything consumed: zero the first word of each consumed line,
    /// then publish `tail`.
    fn free_consumed(&mut self) {
        let cap = self.p.cap;
        let mut at = self.freed_pos;
        let mut left = self.tail - self.freed;
        while left > 0 {
            self.p.header_word(at).store(0, Ordering::Relaxed);
            at = if at + RECORD_ALIGN == cap { 0 } else { at + RECORD_ALIGN };
            left -= RECORD_ALIGN;
        }
        self.freed = self.tail;
        self.freed_pos = self.pos;
        self.p.tail().store(self.tail, Ordering::Release);
        self.freed_since = true;
    }

    /// After freeing space: if the producer announced that it waits for
    /// room, clear the flag and return its pid (to ring its doorbell).
    pub fn producer_to_wake(&self) -> Option<u32> {
        fence(Ordering::SeqCst);
        if self.p.waiting().load(Ordering::Relaxed) != 0 && self.p.waiting().swap(0, Ordering::AcqRel) != 0 {
            Some(self.p.producer_pid().load(Ordering::Acquire))
        } else {
            None
        }
    }

    /// Whether a record (or a wrap marker) is published at the tail.
    #[inline]
    pub fn has_data(&mut self) -> bool {
        self.p.header_word(self.pos).load(Ordering::Acquire) != 0
    }

    /// Hand the oldest packet to `f` as a borrowed slice and free it after
    /// `f` returns. Returns `Ok(false)` if the ring is empty.
    #[inline]
    pub fn pop_with(&mut self, f: impl FnOnce(&[u8])) -> Result<bool, CorruptRing> {
        self.pop_if(|p| {
            f(p);
            true
        })
    }

    /// Show the oldest packet to `f` as a borrowed slice, and free it only
    /// if `f` answers true (else it stays the oldest). Returns whether a
    /// packet was taken.
    #[inline]
    pub fn pop_if(&mut self, f: impl FnOnce(&[u8]) -> bool) -> Result<bool, CorruptRing> {
        let cap = self.p.cap;
        loop {
            let pos = self.pos;
            let word = self.p.header_word(pos).load(Ordering::Acquire);
            if word == 0 {
                return Ok(false);
            }
            if !self.populated {
                // The producer populated (allocated) the pages at its first
                // packet; map them here too.
                self.populated = true;
                self.p.populate();
            }
            let (len, kind) = ((word & 0xffff_ffff) as u32, (word >> 32) as u32);
            match kind {
                KIND_WRAP => {
                    // The lines after the marker were not written this lap:
                    // their first words are still zero.
                    self.tail += cap - pos;
                    self.pos = 0;
                    continue;
                }
                KIND_PACKET => {
                    let rec = record_bytes(len as usize);
                    if len as usize > max_packet(cap as usize) || pos + rec > cap {
                        return Err(CorruptRing);
                    }
                    // SAFETY: the payload range lies inside the data area
                    // (checked above) and was published by the producer's
                    // Release store of the header word, which we
                    // Acquire-loaded; the producer does not touch it until
                    // we advance tail below, after the borrow handed to `f`
                    // has ended.
                    let payload = unsafe {
                        std::slice::from_raw_parts(self.p.data.add((pos + RECORD_HEADER) as usize), len as usize)
                    };
                    if !f(payload) {
                        return Ok(false);
                    }
                    self.tail += rec;
                    self.pos = if pos + rec == cap { 0 } else { pos + rec };
                    if self.tail - self.freed >= self.batch {
                        self.free_consumed();
                    }
                    return Ok(true);
                }
                _ => return Err(CorruptRing),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap-backed ring area, 128-byte aligned.
    struct Area {
        buf: Vec<u128>,
    }

    impl Area {
        fn new(cap: usize) -> Self {
            Area { buf: vec![0u128; (RING_HEADER_BYTES + cap) / 16 + 8] }
        }
        fn base(&mut self) -> *mut u8 {
            let p = self.buf.as_mut_ptr() as *mut u8;
            let off = p.align_offset(128);
            // SAFETY: the buffer has 128 spare bytes for the alignment.
            unsafe { p.add(off) }
        }
    }

    #[test]
    fn wraps_without_splitting_packets() {
        let cap = 4096;
        let mut area = Area::new(cap);
        let base = area.base();
        // SAFETY: `area` outlives both ends; one producer, one consumer.
        let (mut tx, mut rx) = unsafe { (RingProducer::new(base, cap), RingConsumer::new(base, cap)) };
        let mut next_out = 0u32;
        let mut next_in = 0u32;
        for round in 0..2000 {
            let len = (round * 37) % (max_packet(cap) + 1);
            while tx.push(&[&next_out.to_le_bytes(), &vec![next_out as u8; len.saturating_sub(4)]], len.max(4)) {
                next_out += 1;
            }
            while rx
                .pop_with(|p| {
                    assert_eq!(u32::from_le_bytes(p[..4].try_into().unwrap()), next_in);
                    assert!(p[4..].iter().all(|&b| b == next_in as u8));
                })
                .unwrap()
            {
                next_in += 1;
            }
            assert_eq!(next_in, next_out);
        }
        assert!(next_out > 2000);
    }

    #[test]
    fn waiting_producer_is_reported_once_space_frees() {
        let cap = 4096;
        let mut area = Area::new(cap);
        let base = area.base();
        // SAFETY: `area` outlives both ends; one producer, one consumer.
        let (mut tx, mut rx) = unsafe { (RingProducer::new(base, cap), RingConsumer::new(base, cap)) };
        let pkt = [1u8; 1000];
        while tx.push(&[&pkt], pkt.len()) {}
        assert!(rx.producer_to_wake().is_none());
        assert!(!tx.wait_for_room(pkt.len()));
        assert!(rx.pop_with(|_| {}).unwrap());
        assert_eq!(rx.producer_to_wake(), Some(std::process::id()));
        assert_eq!(rx.producer_to_wake(), None, "flag cleared");
        assert!(tx.wait_for_room(pkt.len()));
    }

    #[test]
    fn old_payload_never_reads_as_a_record() {
        let cap = 4096;
        let mut area = Area::new(cap);
        let base = area.base();
        // SAFETY: `area` outlives both ends; one producer, one consumer.
        let (mut tx, mut rx) = unsafe { (RingProducer::new(base, cap), RingConsumer::new(base, cap)) };
        // Payload bytes that would make a valid-looking header word at
        // every line start, once consumed, must read as "empty".
        let junk = header_word(8, KIND_PACKET).to_ne_bytes().repeat(max_packet(cap) / 8);
        for lap in 0..6 {
            assert!(tx.push(&[&junk], junk.len()), "lap {lap}");
            assert!(rx.pop_with(|p| assert_eq!(p, &junk[..])).unwrap());
            assert!(!rx.has_data(), "lap {lap}: nothing was published");
            assert!(!rx.pop_with(|_| panic!("no record")).unwrap());
            assert!(tx.push(&[b"ok"], 2));
            assert!(rx.pop_with(|p| assert_eq!(p, b"ok")).unwrap());
        }
    }

    #[test]
    fn full_ring_refuses_then_accepts() {
        let cap = 4096;
        let mut area = Area::new(cap);
        let base = area.base();
        // SAFETY: `area` outlives both ends; one producer, one consumer.
        let (mut tx, mut rx) = unsafe { (RingProducer::new(base, cap), RingConsumer::new(base, cap)) };
        let pkt = [7u8; 1000];
        let mut n = 0;
        while tx.push(&[&pkt], pkt.len()) {
            n += 1;
        }
        assert_eq!(n, 4); // 4 records of 1024 bytes (1008 rounded to lines) fill 4096
        assert!(rx.pop_with(|p| assert_eq!(p, &pkt[..])).unwrap());
        assert!(tx.push(&[&pkt], pkt.len()));
        assert!(!tx.push(&[&pkt], pkt.len()));
    }
}
