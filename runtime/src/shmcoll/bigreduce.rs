//! Large allreduce through the area: a pipeline of chunks, every byte
//! staying in cache between the members' cores.
//!
//! The vector goes in chunks of [`chunk_bytes`] (whole elements), numbered
//! on from the previous call (the same on every member: the blocking
//! collectives of a communicator run in the same order everywhere). Chunk
//! `c` uses buffer `c % 2` of a region at the end of the area (see
//! [`region_len`]; a sparse file, so its pages exist only once a large
//! allreduce touched them):
//!
//! ```text
//! ctl       per member r: three lines, `in`, `red`, `out`: the last chunk
//!           it copied in, reduced its share of, copied out
//! result    per buffer: a chunk's bytes (`stride`), the reduced chunk
//! slots     per member and buffer: a chunk's bytes, its input chunk
//! ```
//!
//! Each chunk is split in `n` shares on element boundaries; member `r`
//! owns share `r`. Per chunk a member
//! 1. copies its input chunk into its slot (all but its own share, which
//!    only it reads) and stamps `in`;
//! 2. once every member stamped `in`, reduces its share over all members'
//!    inputs in rank order (`x0 op (x1 op (... op x{n-1}))`, so
//!    non-commutative operators are right and every member gets the same
//!    bits, each share being computed once) into the result and stamps
//!    `red`;
//! 3. copies in the next chunk (so peers can reduce it meanwhile), then,
//!    once every member stamped `red`, copies the reduced chunk out and
//!    stamps `out`.
//!
//! Two buffers suffice with no further waiting: a member stamps `in` for
//! chunk c only after it stamped `red` for c-1 and `out` for c-2, so
//! when every member stamped `in` for c, nobody still reads what chunk c-2
//! left in buffer `c % 2`, and a member's copy-in of c+1 (after it saw
//! every `in` for c) overwrites a slot whose readers reduced c-1.
//!
//! Only this path touches the region, with its own numbering, so it runs
//! beside the area's other operations without ordering them.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use rmpi_collectives::ReduceOp;

use super::{wait, Area};
use crate::error::{err, ErrorClass, MpiResult};

/// Largest chunk (bytes) the region holds per member and buffer.
pub(crate) const CHUNK_MAX: usize = 1024 * 1024;
/// Buffers per member (chunks in flight).
const BUFS: usize = 2;
const LINE: usize = 64;

/// Bytes of the region for `n` members.
pub(crate) fn region_len(n: usize) -> usize {
    ctl_len(n) + BUFS * stride(n) * (n + 1)
}

fn ctl_len(n: usize) -> usize {
    (n * 3 * LINE).next_multiple_of(4096)
}

/// Bytes of the region per buffer, all members' slots and the result
/// together (so at most twice this, plus the control lines, per
/// communicator; pages exist only once a large allreduce touched them).
const BUDGET: usize = 8 * 1024 * 1024;

/// Size (bytes) of a slot for `n` members, and of a chunk: the largest
/// that keeps the region within [`BUDGET`] per buffer, 64 KiB to
/// [`CHUNK_MAX`]. Large chunks mean few handshakes per call, which
/// matters most when ranks outnumber cores (each handshake there is a
/// round of context switches); on 2 cores, chunks of 64-256 KiB were no
/// faster at 2 ranks either. Depends only on the member count (equal
/// everywhere; whether the node is oversubscribed may differ between
/// ranks under CPU binding).
fn stride(n: usize) -> usize {
    (BUDGET / (n + 1) / (64 * 1024) * (64 * 1024)).clamp(MIN_STRIDE, CHUNK_MAX)
}

/// The smallest slot (bytes): an item of at most this size fits a chunk.
const MIN_STRIDE: usize = 64 * 1024;

/// Chunk size (bytes) for `n` members: [`stride`], or less if
/// `RMPI_SHMCOLL_CHUNK` (bytes, which must be equal on every rank) says
/// so, for measuring.
fn chunk_bytes(n: usize) -> usize {
    static FORCED: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let forced =
        *FORCED.get_or_init(|| std::env::var("RMPI_SHMCOLL_CHUNK").ok().and_then(|v| v.trim().parse::<usize>().ok()));
    forced.map_or(stride(n), |c| c.clamp(4096, stride(n)))
}

/// The words and buffers of the region of `area`.
struct Region<'a> {
    area: &'a Area,
    base: *mut u8,
}

impl Region<'_> {
    fn word(&self, r: usize, which: usize) -> &AtomicU64 {
        // SAFETY: inside the region's control part (n * 3 lines), 8-byte
        // aligned; only accessed atomically.
        unsafe { &*(self.base.add((r * 3 + which) * LINE) as *const AtomicU64) }
    }
    fn stamp_in(&self, r: usize) -> &AtomicU64 {
        self.word(r, 0)
    }
    fn stamp_red(&self, r: usize) -> &AtomicU64 {
        self.word(r, 1)
    }
    fn stamp_out(&self, r: usize) -> &AtomicU64 {
        self.word(r, 2)
    }
    fn result(&self, buf: usize) -> *mut u8 {
        // SAFETY: inside the region (see `region_len`).
        unsafe { self.base.add(ctl_len(self.area.n) + buf * stride(self.area.n)) }
    }
    fn slot(&self, r: usize, buf: usize) -> *mut u8 {
        // SAFETY: inside the region (see `region_len`).
        unsafe { self.base.add(ctl_len(self.area.n) + (BUFS + r * BUFS + buf) * stride(self.area.n)) }
    }

    /// Publish `word = c` and wake members asleep waiting for it.
    fn stamp(&self, word: &AtomicU64, c: u64) -> MpiResult<()> {
        word.store(c, Ordering::Release);
        fence(Ordering::SeqCst);
        self.area.wake_fenced(0..self.area.n)
    }

    /// Wait until every member's `which` word reached `c`.
    fn wait_all(&self, which: usize, c: u64) -> MpiResult<()> {
        let n = self.area.n;
        let ready = || (0..n).all(|r| self.word(r, which).load(Ordering::Acquire) >= c);
        if ready() {
            return Ok(());
        }
        wait(self.area, ready)
    }
}

/// Up to this size (bytes), an allreduce between two members with a
/// commutative operator is left to `bigcoll` (one exchange of eager
/// messages; measured on 2 cores: 20-32 KiB in 2-3 us there, 3.5-4.5
/// here; from 48 KiB on this path is faster).
pub(crate) const PAIR_MAX: usize = 32 * 1024;

/// Whether this path takes a reduction of `len` bytes with `op` among `n`
/// members (`all`: an allreduce, else a reduce).
pub(crate) fn applies(n: usize, len: usize, op: &dyn ReduceOp, all: bool) -> bool {
    let esz = op.elem_size().max(1);
    if all && n == 2 && len <= PAIR_MAX && op.commutative() {
        return false;
    }
    len.is_multiple_of(esz) && esz <= MIN_STRIDE
}

/// One allreduce of `recv.len()` bytes (`send` `None`: in place).
pub(crate) fn allreduce(area: &Area, send: Option<&[u8]>, recv: &mut [u8], op: &dyn ReduceOp) -> MpiResult<()> {
    let (len, rptr) = (recv.len(), recv.as_mut_ptr());
    let sptr: *const u8 = send.map_or(rptr as *const u8, <[u8]>::as_ptr);
    // SAFETY: `sptr` and `rptr` hold `len` bytes each (the same ones in place).
    unsafe { run(area, sptr, Some(rptr), len, op) }
}

/// One reduce of `len` bytes from `send` into `recv` (the root's receive
/// buffer, `None` elsewhere; `send` `None`: in place at the root, the
/// input is in `recv`).
pub(crate) fn reduce(
    area: &Area,
    send: Option<&[u8]>,
    recv: Option<&mut [u8]>,
    len: usize,
    op: &dyn ReduceOp,
) -> MpiResult<()> {
    let rptr = recv.map(|r| {
        debug_assert!(r.len() >= len);
        r.as_mut_ptr()
    });
    let sptr = match (send, rptr) {
        (Some(s), _) => s.as_ptr(),
        (None, Some(r)) => r as *const u8,
        (None, None) => return err(ErrorClass::Buffer, "MPI_IN_PLACE on a rank that is not the root of a reduce"),
    };
    // SAFETY: `sptr` holds `len` bytes, and `rptr` (if any) too.
    unsafe { run(area, sptr, rptr, len, op) }
}

/// The pipeline over `len` bytes of input at `sptr`; the result goes to
/// `rptr` when given (every member for an allreduce, the root for a
/// reduce).
///
/// # Safety
/// `sptr` must be readable and `rptr` writable for `len` bytes; they are
/// either the same memory or disjoint.
unsafe fn run(area: &Area, sptr: *const u8, rptr: Option<*mut u8>, len: usize, op: &dyn ReduceOp) -> MpiResult<()> {
    let (n, me) = (area.n, area.me);
    let esz = op.elem_size().max(1);
    let chunk = (chunk_bytes(n) / esz).max(1) * esz;
    let reg = Region { area, base: area.big_region() };
    // This member's `out` word holds the last chunk it finished.
    let first = reg.stamp_out(me).load(Ordering::Relaxed) + 1;
    let chunks = len.div_ceil(chunk) as u64;
    // Chunk `c`'s place in the vector, and share `r`'s place in the chunk.
    let span = |c: u64| {
        let lo = (c - first) as usize * chunk;
        (lo, chunk.min(len - lo))
    };
    let share = |r: usize, clen: usize| {
        let elems = clen / esz;
        (r * elems / n * esz, (r + 1) * elems / n * esz)
    };
    let copy_in = |c: u64| -> MpiResult<()> {
        let (lo, clen) = span(c);
        let (slo, shi) = share(me, clen);
        let slot = reg.slot(me, (c % BUFS as u64) as usize);
        // SAFETY: the slot holds stride(n) >= clen bytes and no member
        // reads it for chunk c before the stamp (see the module docs for
        // why its readers of c-2 are done); the input holds [lo, lo+clen).
        unsafe {
            std::ptr::copy_nonoverlapping(sptr.add(lo), slot, slo);
            std::ptr::copy_nonoverlapping(sptr.add(lo + shi), slot.add(shi), clen - shi);
        }
        reg.stamp(reg.stamp_in(me), c)
    };
    if chunks == 0 {
        return Ok(());
    }
    // The slot last held chunk first-2: its readers must be done. Known
    // already after an allreduce (it waited for every `red` of first-1);
    // not after a reduce on a member that is not its root.
    if first > 2 {
        reg.wait_all(1, first - 2)?;
    }
    copy_in(first)?;
    for c in first..first + chunks {
        let buf = (c % BUFS as u64) as usize;
        let (lo, clen) = span(c);
        reg.wait_all(0, c)?;
        let (slo, shi) = share(me, clen);
        if shi > slo {
            let l = shi - slo;
            // SAFETY: every member stamped `in` for c, so its slot holds the
            // chunk; this share of the result is written only by this
            // member, and every member finished reading chunk c-2 from it.
            let acc = unsafe { std::slice::from_raw_parts_mut(reg.result(buf).add(slo), l) };
            let operand = |r: usize| -> &[u8] {
                // SAFETY: as above; this member's own share comes from its input.
                unsafe {
                    if r == me {
                        std::slice::from_raw_parts(sptr.add(lo + slo), l)
                    } else {
                        std::slice::from_raw_parts(reg.slot(r, buf).add(slo), l)
                    }
                }
            };
            acc.copy_from_slice(operand(n - 1));
            for r in (0..n - 1).rev() {
                op.apply(operand(r), acc);
            }
        }
        reg.stamp(reg.stamp_red(me), c)?;
        if c + 1 < first + chunks {
            copy_in(c + 1)?;
        }
        if let Some(rptr) = rptr {
            reg.wait_all(1, c)?;
            // SAFETY: every member stamped `red` for c: the result chunk is
            // whole, and nobody rewrites it before this member stamps `in`
            // for c+2; [lo, lo+clen) lies inside the output (in place, this
            // member's input for chunk c was read above and is not needed
            // again).
            unsafe { std::ptr::copy_nonoverlapping(reg.result(buf), rptr.add(lo), clen) };
        }
        // Only this member reads its `out` (nobody waits for it).
        reg.stamp_out(me).store(c, Ordering::Relaxed);
    }
    Ok(())
}
