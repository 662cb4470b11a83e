//! The shared-memory area of one communicator: a `/dev/shm` file every
//! member maps, its layout, and waking peers that sleep on it.
//!
//! Layout (offsets from the start of the mapping; every counter is an
//! `AtomicU64` at the start of its own 64-byte line):
//!
//! ```text
//! 0                 header: magic, member count
//! CTL               per member r (CTL_STRIDE bytes each):
//!                     line 0, 1   arrival cell of parity 0 / 1: the op number,
//!                                 then up to INLINE bytes of contribution
//!                     line 2      done: the last bcast this member consumed
//!                     line 3      the CPU it last waited on (a hint)
//! data_off          per member r and parity p: DATA_MAX contribution bytes
//! bcast_off         BCAST_LINES lines: the op number, then INLINE bytes
//! bdata_off         BCAST_SLOTS slots of BCAST_MAX bytes
//! a2a_off           per member r and parity p: ALLTOALL_ROW bytes of
//!                   alltoall row (pages are taken only when first used)
//! big               the large allreduce's region (`bigreduce.rs`)
//! ```
//!
//! The file is created by the communicator's rank 0 (0600, exclusively),
//! named `rmpi-<job>-coll-<ctx>-<pid>-<n>` (so `rmpirun`'s clean-up of
//! `rmpi-<job>-*` covers a crash during set-up), its name is broadcast
//! over point-to-point messages, every member maps it, and once all have
//! (an allreduce of their success) rank 0 unlinks it. A fresh file is
//! zero, so every op number starts at 0 and the first operation is 1.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use rmpi_transports::shm::ShmTransport;

use crate::error::{ErrorClass, MpiError, MpiResult};
use crate::state::with;

/// "RMPICOL1" as a little-endian u64.
const MAGIC: u64 = u64::from_le_bytes(*b"RMPICOL1");
/// Bytes of a contribution or broadcast carried in the line of its op number.
pub(crate) const INLINE: usize = 56;
/// Largest allreduce contribution (bytes) the area holds.
pub(crate) const DATA_MAX: usize = 16 * 1024;
/// Broadcast slots: the root may run this many operations ahead of the
/// slowest reader.
pub(crate) const BCAST_SLOTS: u64 = 64;
/// Broadcast lines (op number and up to INLINE bytes): a broadcast that
/// fits in its line lets the root run this many operations ahead. Deep,
/// so that readers sharing cores consume long runs of small broadcasts
/// between two context switches (at 64, with 8 ranks on 2 cores, the
/// switches cost about as much as the broadcasts).
pub(crate) const BCAST_LINES: u64 = 1024;
/// Largest broadcast (bytes) the area holds.
pub(crate) const BCAST_MAX: usize = 16 * 1024;
/// Bytes of one member's alltoall row per parity (the blocks, or pieces
/// of them, it sends to the others in one step): 1 MiB per member in all.
/// Measured at np=2 (loaded machine): fewer, larger steps win (64 KiB
/// blocks: 16 KiB rows 27-85 us, 64 KiB 16, 256 and 512 KiB 14-17; 1 MiB
/// blocks: 16 KiB rows 640, 256 KiB 400, 512 KiB 370 us), and at np=8
/// a 512 KiB row carries 64 KiB blocks in one step.
pub(crate) const ALLTOALL_ROW: usize = 512 * 1024;
/// Largest communicator that gets an area (every member reads every other
/// member's line: quadratic traffic).
pub(crate) const MAX_MEMBERS: usize = 64;

const HEADER: usize = 4096;
/// Offset of the count of members waiting for others' progress.
const WAITERS: usize = 64;
const LINE: usize = 64;
const CTL_STRIDE: usize = 4 * LINE;

/// One communicator's mapped area and this rank's view of it.
pub(crate) struct Area {
    base: *mut u8,
    len: usize,
    /// Members (the communicator's size) and this rank's place.
    pub n: usize,
    pub me: usize,
    data_off: usize,
    bcast_off: usize,
    bdata_off: usize,
    a2a_off: usize,
    /// Number of the last operation this rank started on the area.
    op: AtomicU64,
    /// The least progress of the other members a bcast root last saw.
    seen_progress: AtomicU64,
    /// Its communicator was freed (a thread's cached reference to the
    /// area no longer stands for it; see `shmcoll::with_area`).
    retired: std::sync::atomic::AtomicBool,
    /// Each member's `sleeping` word (null for this rank), and world rank.
    sleep_words: Vec<*const AtomicU32>,
    world: Vec<u32>,
    /// More ranks than cores on this node: do not spin before blocking.
    pub oversubscribed: bool,
}

// SAFETY: the mapping is plain shared memory accessed only through atomics
// and the publication protocol of this module; the sleep words point into
// the shm transport's mappings, which live as long as the runtime (longer
// than any communicator). MPI lets one thread at a time run collectives on
// a communicator.
unsafe impl Send for Area {}
// SAFETY: as above.
unsafe impl Sync for Area {}

impl std::fmt::Debug for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Area").field("n", &self.n).field("me", &self.me).field("op", &self.op).finish()
    }
}

/// Bytes of the area of `n` members.
fn layout(n: usize) -> (usize, usize, usize, usize) {
    let data_off = (HEADER + n * CTL_STRIDE).next_multiple_of(4096);
    let bcast_off = data_off + n * 2 * DATA_MAX;
    let bdata_off = (bcast_off + BCAST_LINES as usize * LINE).next_multiple_of(4096);
    let big = (bdata_off + BCAST_SLOTS as usize * BCAST_MAX).next_multiple_of(4096);
    let len = big + super::bigreduce::region_len(n);
    (data_off, bcast_off, bdata_off, len)
}

/// Offset of the alltoall rows (after `layout`'s sections) and the area's
/// whole length.
fn full_layout(n: usize) -> (usize, usize) {
    let (.., end) = layout(n);
    let a2a_off = end.next_multiple_of(4096);
    (a2a_off, a2a_off + n * 2 * ALLTOALL_ROW)
}

fn io_err(what: &str, e: std::io::Error) -> MpiError {
    MpiError::new(ErrorClass::Other, format!("shared-memory collectives: {what}: {e}"))
}

fn map(file: &std::fs::File, len: usize) -> MpiResult<*mut u8> {
    // SAFETY: a fresh shared mapping of an open descriptor; checked below.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, file.as_raw_fd(), 0)
    };
    if p == libc::MAP_FAILED {
        return Err(io_err("mmap", std::io::Error::last_os_error()));
    }
    Ok(p.cast())
}

/// Path of an area file.
pub(crate) fn path_of(name: &str) -> PathBuf {
    std::path::Path::new("/dev/shm").join(name)
}

/// Bytes free in /dev/shm for an unprivileged writer.
fn shm_free() -> std::io::Result<u64> {
    // SAFETY: statvfs fills the zeroed struct; the path is a C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c"/dev/shm".as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Create the file `name` for `n` members, map it and write its header.
pub(crate) fn create_file(name: &str, n: usize) -> MpiResult<(*mut u8, usize)> {
    let path = path_of(name);
    let (_, len) = full_layout(n);
    // The file is sparse: tmpfs gives its pages as they are first written,
    // and a write that finds /dev/shm full is a SIGBUS. So only take an
    // area when /dev/shm could hold it twice over (else the communicator
    // keeps to messages).
    let free = shm_free().map_err(|e| io_err("statvfs /dev/shm", e))?;
    if free < 2 * len as u64 {
        return Err(io_err(
            "room",
            std::io::Error::other(format!("/dev/shm has {free} bytes free, the area needs {len}")),
        ));
    }
    let file = rmpi_transports::shm::create_private(&path).map_err(|e| io_err("create", e))?;
    let mapped = file.set_len(len as u64).map_err(|e| io_err("size", e)).and_then(|()| map(&file, len));
    match mapped {
        Ok(p) => {
            // SAFETY: the mapping is at least HEADER bytes, page aligned.
            unsafe {
                (*(p.add(8) as *const AtomicU64)).store(n as u64, Ordering::Relaxed);
                (*(p as *const AtomicU64)).store(MAGIC, Ordering::Release);
            }
            Ok((p, len))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Open and map the file `name` another member created for `n` members.
pub(crate) fn open_file(name: &str, n: usize) -> MpiResult<(*mut u8, usize)> {
    let (_, len) = full_layout(n);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path_of(name))
        .map_err(|e| io_err("open", e))?;
    let size = file.metadata().map_err(|e| io_err("stat", e))?.len();
    if size < len as u64 {
        return Err(io_err("size", std::io::Error::other(format!("{size} bytes, expected {len}"))));
    }
    let p = map(&file, len)?;
    // SAFETY: the mapping is at least HEADER bytes, page aligned.
    let (magic, members) = unsafe {
        ((*(p as *const AtomicU64)).load(Ordering::Acquire), (*(p.add(8) as *const AtomicU64)).load(Ordering::Relaxed))
    };
    if magic != MAGIC || members != n as u64 {
        // SAFETY: unmaps exactly what was mapped above.
        unsafe { libc::munmap(p.cast(), len) };
        return Err(io_err("header", std::io::Error::other("not a collective area of this communicator")));
    }
    Ok((p, len))
}

/// Unmap a mapping made by [`create_file`] or [`open_file`] that never
/// became an [`Area`].
pub(crate) fn unmap(p: *mut u8, len: usize) {
    // SAFETY: `p..p+len` is a mapping this module made and nothing uses.
    unsafe { libc::munmap(p.cast(), len) };
}

impl Area {
    /// The area over mapping `base` (of `len` bytes) for the members
    /// `world` (world ranks in communicator order), this rank being `me`.
    pub(crate) fn new(
        base: *mut u8,
        len: usize,
        world: Vec<u32>,
        me: usize,
        shm: &ShmTransport,
        oversubscribed: bool,
    ) -> Option<Area> {
        let n = world.len();
        let (data_off, bcast_off, bdata_off, _) = layout(n);
        let (a2a_off, need) = full_layout(n);
        let mut sleep_words = Vec::with_capacity(n);
        for (r, &w) in world.iter().enumerate() {
            sleep_words.push(if r == me { std::ptr::null() } else { shm.sleep_word(w)? });
        }
        (len >= need).then(|| Area {
            base,
            len,
            n,
            me,
            data_off,
            bcast_off,
            bdata_off,
            a2a_off,
            op: AtomicU64::new(0),
            seen_progress: AtomicU64::new(0),
            retired: std::sync::atomic::AtomicBool::new(false),
            sleep_words,
            world,
            oversubscribed,
        })
    }

    /// Mark the area as its freed communicator's: cached references to it
    /// stop being used.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    /// Whether [`Area::retire`] was called.
    pub(crate) fn retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// The number of the next operation (1, 2, ...), taken.
    pub(crate) fn next_op(&self) -> u64 {
        // Only the thread running the communicator's collective touches it.
        let k = self.op.load(Ordering::Relaxed) + 1;
        self.op.store(k, Ordering::Relaxed);
        k
    }

    fn word(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off + 8 <= self.len && off.is_multiple_of(8));
        // SAFETY: every offset this module computes is inside the mapping
        // (see `layout`) and 8-byte aligned; the word is only accessed
        // atomically.
        unsafe { &*(self.base.add(off) as *const AtomicU64) }
    }

    fn cell_off(&self, r: usize, parity: u64) -> usize {
        HEADER + r * CTL_STRIDE + parity as usize * LINE
    }

    /// Member `r`'s arrival word for operations of `parity`.
    pub(crate) fn cell(&self, r: usize, parity: u64) -> &AtomicU64 {
        self.word(self.cell_off(r, parity))
    }

    /// Member `r`'s "done" word (the last broadcast it consumed).
    pub(crate) fn done(&self, r: usize) -> &AtomicU64 {
        self.word(HEADER + r * CTL_STRIDE + 2 * LINE)
    }

    /// Member `r`'s "cpu" word: 1 + the CPU it last waited on (0: unknown).
    fn cpu_word(&self, r: usize) -> &AtomicU64 {
        self.word(HEADER + r * CTL_STRIDE + 3 * LINE)
    }

    /// Record the CPU this rank waits on, and say whether another member
    /// was last seen waiting on the same one (then spinning only delays
    /// it: yield at once).
    pub(crate) fn shares_cpu(&self) -> bool {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu < 0 {
            return false;
        }
        let v = cpu as u64 + 1;
        self.cpu_word(self.me).store(v, Ordering::Relaxed);
        (0..self.n).any(|r| r != self.me && self.cpu_word(r).load(Ordering::Relaxed) == v)
    }

    /// Record the CPU this rank runs on (where the others will look for it
    /// while they wait for it) and return it as 1 + its number (0:
    /// unknown). The word is written only when it changes, so its line
    /// stays shared in the readers' caches.
    pub(crate) fn note_cpu(&self) -> u64 {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu < 0 {
            return 0;
        }
        let v = cpu as u64 + 1;
        let w = self.cpu_word(self.me);
        if w.load(Ordering::Relaxed) != v {
            w.store(v, Ordering::Relaxed);
        }
        v
    }

    /// Whether member `r` was last seen on CPU `cpu` (as [`Area::note_cpu`]
    /// returns it).
    pub(crate) fn last_on(&self, r: usize, cpu: u64) -> bool {
        cpu != 0 && self.cpu_word(r).load(Ordering::Relaxed) == cpu
    }

    /// Where member `r` puts a contribution of `len` bytes for `parity`.
    pub(crate) fn contribution(&self, r: usize, parity: u64, len: usize) -> *mut u8 {
        debug_assert!(len <= DATA_MAX);
        let off = if len <= INLINE {
            self.cell_off(r, parity) + 8
        } else {
            self.data_off + (r * 2 + parity as usize) * DATA_MAX
        };
        // SAFETY: inside the mapping (see `layout`).
        unsafe { self.base.add(off) }
    }

    /// Where member `r` puts an alltoall row of `len` bytes for `parity`:
    /// in its arrival cell, after the op number, when it fits.
    pub(crate) fn alltoall_row(&self, r: usize, parity: u64, len: usize) -> *mut u8 {
        debug_assert!(len <= ALLTOALL_ROW);
        let off = if len <= INLINE {
            self.cell_off(r, parity) + 8
        } else {
            self.a2a_off + (r * 2 + parity as usize) * ALLTOALL_ROW
        };
        // SAFETY: inside the mapping (see `full_layout`).
        unsafe { self.base.add(off) }
    }

    /// The start of the large allreduce's region (`bigreduce.rs`), which
    /// ends the mapping.
    pub(crate) fn big_region(&self) -> *mut u8 {
        let (.., len) = layout(self.n);
        // SAFETY: the region is the mapping's last `region_len` bytes.
        unsafe { self.base.add(len - super::bigreduce::region_len(self.n)) }
    }

    /// The op-number word of broadcast slot `slot`.
    pub(crate) fn bcast_seq(&self, slot: u64) -> &AtomicU64 {
        // A line of the ring of BCAST_LINES.
        self.word(self.bcast_off + slot as usize * LINE)
    }

    /// Where a broadcast of `len` bytes lives: in line `slot` when it fits
    /// (INLINE bytes), else in data slot `slot` (below `BCAST_SLOTS`).
    pub(crate) fn bcast_data(&self, slot: u64, len: usize) -> *mut u8 {
        debug_assert!(len <= BCAST_MAX);
        let off = if len <= INLINE {
            self.bcast_off + slot as usize * LINE + 8
        } else {
            self.bdata_off + slot as usize * BCAST_MAX
        };
        // SAFETY: inside the mapping (see `layout`).
        unsafe { self.base.add(off) }
    }

    /// How far member `r` has surely got: it finished every operation up
    /// to the returned number (an arrival at operation k means k-1 is done).
    pub(crate) fn progress(&self, r: usize) -> u64 {
        let a = self.cell(r, 0).load(Ordering::Acquire).max(self.cell(r, 1).load(Ordering::Acquire));
        self.done(r).load(Ordering::Acquire).max(a.saturating_sub(1))
    }

    /// Whether every other member finished operation `k` (cached).
    pub(crate) fn all_finished(&self, k: u64) -> bool {
        if self.seen_progress.load(Ordering::Relaxed) >= k {
            return true;
        }
        let least = (0..self.n).filter(|&r| r != self.me).map(|r| self.progress(r)).min().unwrap_or(u64::MAX);
        self.seen_progress.store(least, Ordering::Relaxed);
        least >= k
    }

    /// After publishing something members may sleep waiting for, and a
    /// `SeqCst` fence (which pairs with the one in the transport's
    /// `prepare_sleep`): ring each of `who` that announced it sleeps.
    /// Costs a load per member; the lock only when someone sleeps.
    pub(crate) fn wake_fenced(&self, who: impl Iterator<Item = usize>) -> MpiResult<()> {
        let mut sleepers: [usize; 8] = [0; 8];
        let mut count = 0;
        let mut more = false;
        for r in who {
            let w = self.sleep_words[r];
            // SAFETY: non-null for every member but this rank, and valid
            // while the shm transport lives (see the `Send` note).
            if r != self.me && ShmTransport::is_sleeping_value(unsafe { (*w).load(Ordering::Relaxed) }) {
                if count < sleepers.len() {
                    sleepers[count] = r;
                    count += 1;
                } else {
                    more = true;
                }
            }
        }
        if count == 0 {
            return Ok(());
        }
        with(|rt| {
            let Some(shm) = rt.net.router.shm.as_mut() else { return Ok(()) };
            let targets: Box<dyn Iterator<Item = usize>> = if more {
                Box::new((0..self.n).filter(|&r| r != self.me))
            } else {
                Box::new(sleepers[..count].iter().copied())
            };
            for r in targets {
                shm.wake(self.world[r]).map_err(|e| MpiError::new(ErrorClass::Other, format!("doorbell: {e}")))?;
            }
            Ok(())
        })
    }
}

impl Area {
    /// The header word counting members that wait for others' progress
    /// (`wait_progress`); members that record progress wake sleepers
    /// while it is not zero.
    fn waiters(&self) -> &AtomicU64 {
        self.word(WAITERS)
    }

    /// Record that every other member finished operation `k` (known from
    /// a completed arrival).
    pub(crate) fn note_progress(&self, k: u64) {
        if self.seen_progress.load(Ordering::Relaxed) < k {
            self.seen_progress.store(k, Ordering::Relaxed);
        }
    }

    /// Wait until every other member finished operation `k` (before this
    /// rank overwrites what `k` left for them to read).
    pub(crate) fn wait_progress(&self, k: u64) -> MpiResult<()> {
        if self.all_finished(k) {
            return Ok(());
        }
        self.waiters().fetch_add(1, Ordering::SeqCst);
        // Any member on this CPU may use it (readers behind the root
        // consume more than the slot waited for): yield to them all.
        let r = super::wait_for(self, |_| true, || self.all_finished(k));
        self.waiters().fetch_sub(1, Ordering::SeqCst);
        r
    }

    /// After storing this rank's `done`: wake sleepers if some member
    /// waits for progress.
    pub(crate) fn wake_after_done(&self) -> MpiResult<()> {
        fence(Ordering::SeqCst);
        self.wake_waiters_fenced()
    }

    /// [`Area::wake_after_done`] when the caller already fenced.
    pub(crate) fn wake_waiters_fenced(&self) -> MpiResult<()> {
        if self.waiters().load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        self.wake_fenced(0..self.n)
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        unmap(self.base, self.len);
    }
}
