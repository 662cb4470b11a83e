//! The process-wide runtime state, its lock, and the wait loop.
//!
//! All MPI state sits behind one mutex (MPI_THREAD_MULTIPLE is correct, not
//! yet concurrent). A blocking call makes progress while it spins for a
//! short time, then sleeps in `poll(2)` on the transports' doorbells with
//! the lock released, so a rank blocked in a receive costs almost no CPU and
//! oversubscribed ranks give their core away.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rmpi_engine::{ReqId, Status};

use crate::coll::{CollIn, CollOut, CollRun};
use crate::comm::{CommId, Tables};
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::net::Net;
use crate::persist::Persistent;

/// Thread support levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreadLevel {
    Single = 0,
    Funneled = 1,
    Serialized = 2,
    Multiple = 3,
}

/// What an API-level request is doing.
pub(crate) enum ReqBody {
    /// A point-to-point operation in the engine.
    P2p(ReqId),
    /// Finished at once (e.g. MPI_PROC_NULL peers).
    Done(Status),
    /// A nonblocking collective; `out` receives the result on completion.
    Coll { run: Box<CollRun>, out: Option<CollOut>, done: bool },
    /// A persistent collective: `input` is re-read at every start.
    PersistentColl { run: Box<CollRun>, comm: CommId, input: CollIn, out: Option<CollOut>, active: bool },
    /// Several requests completed as one (`MPI_Isendrecv`): done when all
    /// are; its status is that of `parts[status_of]`. `_keep` holds bytes
    /// a part sends from (a packed copy) until then.
    Compound { parts: Vec<RequestId>, status_of: usize, _keep: Option<Vec<u8>> },
    /// A persistent request and its current activation, if any.
    Persistent { spec: Persistent, active: Option<ReqId> },
    /// A request-based RMA operation (`MPI_Rput` and friends).
    Rma(u64),
}

/// Handle of an API-level request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

pub(crate) struct ReqSlot {
    generation: u32,
    body: Option<ReqBody>,
}

/// The API request table.
#[derive(Default)]
pub(crate) struct Requests {
    slots: Vec<ReqSlot>,
    free: Vec<usize>,
}

impl Requests {
    pub fn insert(&mut self, body: ReqBody) -> RequestId {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(ReqSlot { generation: 0, body: None });
                self.slots.len() - 1
            }
        };
        let s = &mut self.slots[i];
        s.generation = s.generation.wrapping_add(1);
        s.body = Some(body);
        RequestId(((s.generation as u64) << 32) | i as u64)
    }

    fn slot(&mut self, id: RequestId) -> MpiResult<&mut ReqSlot> {
        let i = (id.0 & 0xffff_ffff) as usize;
        match self.slots.get_mut(i) {
            Some(s) if s.generation == (id.0 >> 32) as u32 && s.body.is_some() => Ok(s),
            _ => err(ErrorClass::Request, "invalid or freed request handle"),
        }
    }

    pub fn get_mut(&mut self, id: RequestId) -> MpiResult<&mut ReqBody> {
        Ok(self.slot(id)?.body.as_mut().expect("checked"))
    }

    pub fn remove(&mut self, id: RequestId) -> MpiResult<ReqBody> {
        let body = self.slot(id)?.body.take().expect("checked");
        self.free.push((id.0 & 0xffff_ffff) as usize);
        Ok(body)
    }

    /// Ids of every live nonblocking collective that is not done.
    pub fn active_colls(&self) -> Vec<RequestId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(
                    s.body,
                    Some(ReqBody::Coll { done: false, .. }) | Some(ReqBody::PersistentColl { active: true, .. })
                )
            })
            .map(|(i, s)| RequestId(((s.generation as u64) << 32) | i as u64))
            .collect()
    }
}

/// Everything MPI knows in this process.
pub(crate) struct Runtime {
    pub net: Net,
    pub tables: Tables,
    pub reqs: Requests,
    pub thread_level: ThreadLevel,
    /// How long a blocking call spins before sleeping.
    pub spin: Duration,
    /// More ranks on this node than cores: yield instead of spinning.
    pub oversubscribed: bool,
    /// Threads sleeping in a blocking call right now.
    pub sleepers: usize,
    /// Nonblocking collectives in flight exist (skip the scan otherwise).
    pub colls_in_flight: usize,
    /// RMA windows.
    pub rma: crate::rma::Rma,
    /// Blocking calls in a row that were already done on entry and returned
    /// without a progress step (see [`block_on`]).
    pub done_without_progress: u32,
    /// When a waiting loop next checks whether a local peer shares this
    /// rank's CPU (see `placement`).
    pub next_cpu_check: Instant,
}

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const FINISHED: u8 = 2;

static PHASE: AtomicU8 = AtomicU8::new(NOT_STARTED);
static RT: Mutex<Option<Runtime>> = Mutex::new(None);

pub(crate) fn phase_running() -> bool {
    PHASE.load(Ordering::Acquire) == RUNNING
}
pub(crate) fn phase_finished() -> bool {
    PHASE.load(Ordering::Acquire) == FINISHED
}
pub(crate) fn set_phase_running() {
    PHASE.store(RUNNING, Ordering::Release)
}
pub(crate) fn set_phase_finished() {
    PHASE.store(FINISHED, Ordering::Release)
}

/// Lock the runtime state (a panic elsewhere does not poison MPI).
pub(crate) fn lock() -> MutexGuard<'static, Option<Runtime>> {
    RT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run `f` on the runtime, or fail if MPI is not initialized.
pub(crate) fn with<T>(f: impl FnOnce(&mut Runtime) -> MpiResult<T>) -> MpiResult<T> {
    let mut g = lock();
    match g.as_mut() {
        Some(rt) => f(rt),
        None => err(ErrorClass::Other, not_running_message()),
    }
}

pub(crate) fn not_running_message() -> &'static str {
    if phase_finished() {
        "MPI has been finalized"
    } else {
        "MPI is not initialized"
    }
}

impl Runtime {
    /// False only if a progress step would certainly find nothing to do
    /// (cheap: the spinning wait checks it between full rounds).
    #[inline]
    pub fn may_have_input(&mut self) -> bool {
        self.colls_in_flight > 0 || self.rma.active() || self.net.has_output() || self.net.router.may_have_input()
    }

    /// One progress step over transports and nonblocking collectives.
    pub fn progress(&mut self) -> MpiResult<bool> {
        let mut moved = self.net.progress()?;
        if self.colls_in_flight > 0 {
            for id in self.reqs.active_colls() {
                let (run, out, flag) = match self.reqs.get_mut(id)? {
                    ReqBody::Coll { run, out, done } => (run, out, done),
                    ReqBody::PersistentColl { run, out, active, .. } => (run, out, active),
                    _ => continue,
                };
                if run.progress(&mut self.net)? {
                    // `done` becomes true for a nonblocking collective;
                    // `active` becomes false for a persistent one.
                    *flag = !*flag;
                    moved = true;
                    self.colls_in_flight -= 1;
                    if let Some(out) = out {
                        out.deliver(run.coll.output());
                    }
                }
            }
            moved |= self.net.progress()?;
        }
        if self.rma.active() {
            moved |= crate::rma::progress(&mut self.net, &mut self.rma)?;
        }
        Ok(moved)
    }
}

/// Idle spin rounds between two readings of the clock in [`block_on`].
const SPIN_BATCH: u32 = 16;
/// Checks of [`Runtime::may_have_input`] at most between two idle rounds.
const QUICK_SPINS: u32 = 4;
/// Spinning longer than this yields the core at every reading of the clock.
const YIELD_AFTER: Duration = Duration::from_micros(1);

/// Block until `check` yields a value, making progress meanwhile: spin
/// briefly, then sleep on the transports' descriptors with the lock released.
/// Returns only once the transports hold no unwritten bytes.
pub(crate) fn block_on<T>(check: impl FnMut(&mut Runtime) -> MpiResult<Option<T>>) -> MpiResult<T> {
    block_on_locked(lock(), check)
}

/// [`block_on`] with the lock already held (a fast path that prepared the
/// operation under the same acquisition).
pub(crate) fn block_on_locked<T>(
    mut g: MutexGuard<'static, Option<Runtime>>,
    mut check: impl FnMut(&mut Runtime) -> MpiResult<Option<T>>,
) -> MpiResult<T> {
    // When the current spell of spinning began.
    let mut spin_start: Option<Instant> = None;
    let mut fds = Vec::new();
    let mut result: Option<T>;
    let stall_after = stall_report_after();
    // Read the clock only when stall reports are on: this is every blocking call's path.
    let mut last_move = stall_after.map(|_| Instant::now());
    let mut reported = false;
    let mut idle: u32 = 0;
    // Already done (a send the transport took at once, a message that was
    // waiting): no progress step first.
    {
        let rt = g.as_mut().ok_or_else(|| MpiError::new(ErrorClass::Other, not_running_message()))?;
        result = check(rt)?;
        // But not forever: a rank looping over calls that are always done at
        // once (a lock and get on its own window, say) must still serve its
        // peers' one-sided requests and replies.
        if result.is_some() && !rt.net.router.has_pending_writes() && rt.done_without_progress < 16 {
            rt.done_without_progress += 1;
            return Ok(result.take().expect("checked"));
        }
        rt.done_without_progress = 0;
    }
    loop {
        let rt = g.as_mut().ok_or_else(|| MpiError::new(ErrorClass::Other, not_running_message()))?;
        let moved = rt.progress()?;
        if result.is_none() {
            result = check(rt)?;
        }
        if result.is_some() {
            // Do not return while a transport still holds bytes this rank
            // wrote (e.g. behind a TCP handshake): the caller may compute
            // for a long time outside MPI, and a peer may be waiting for them.
            if !rt.net.router.has_pending_writes() {
                return Ok(result.take().expect("checked"));
            }
            if !moved {
                drop(g);
                std::thread::yield_now();
                g = lock();
            }
            continue;
        }
        if moved {
            spin_start = None;
            idle = 0;
            if stall_after.is_some() {
                last_move = Some(Instant::now());
            }
            continue;
        }
        // Reading the clock costs as much as a poll of the queues: spin
        // SPIN_BATCH idle rounds between readings.
        idle += 1;
        if !idle.is_multiple_of(SPIN_BATCH) && !rt.oversubscribed && !rt.net.has_output() {
            // Between full rounds, watch only the cheap sign that something
            // arrived (a word per shared-memory ring): a message is then
            // seen within a few nanoseconds, not after a whole round.
            let mut k = 0;
            while k < QUICK_SPINS && !rt.may_have_input() {
                std::hint::spin_loop();
                k += 1;
            }
            continue;
        }
        if let Some(after) = stall_after {
            if !reported && last_move.is_some_and(|t| t.elapsed() > after) {
                reported = true;
                eprintln!(
                    "rmpi: stall report (no progress for {:?}):\n{}  transports: {:?}",
                    after,
                    rt.net.engine.debug_summary(),
                    rt.net.router.counters()
                );
            }
        }
        let now = Instant::now();
        let started = *spin_start.get_or_insert(now);
        if rt.net.has_output() || now < started + rt.spin {
            // Sending is blocked on a full queue, or still within the spin
            // budget: try again, giving the core away when oversubscribed,
            // and now and then after the first microseconds: on a loaded
            // machine the peer this rank waits for may be queued behind it
            // on its own core (a woken task is often placed on its waker's
            // core), and would otherwise wait for the whole spin.
            if rt.oversubscribed || rt.net.has_output() || now - started > YIELD_AFTER {
                if !rt.oversubscribed {
                    if let Some(shm) = rt.net.router.shm.as_mut() {
                        crate::placement::before_yield(shm, &mut rt.next_cpu_check, now);
                    }
                }
                drop(g);
                std::thread::yield_now();
                g = lock();
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        // Sleep until a doorbell rings.
        let ready = rt.net.router.prepare_sleep();
        if !ready {
            rt.net.router.end_sleep();
            continue;
        }
        // Conditions published in shared memory outside the transports
        // (the shm collectives) are read again now that the sleep is
        // announced: their publisher rings only ranks it sees asleep.
        result = check(rt)?;
        if result.is_some() {
            rt.net.router.end_sleep();
            continue;
        }
        fds.clear();
        rt.net.wait_fds(&mut fds);
        // Another thread asleep in MPI may need this thread's progress to
        // finish: keep sleeps short then.
        let timeout_ms = if rt.sleepers > 0 { 1 } else { 100 };
        rt.sleepers += 1;
        drop(g);
        sleep_on(&fds, timeout_ms);
        g = lock();
        let rt = g.as_mut().ok_or_else(|| MpiError::new(ErrorClass::Other, not_running_message()))?;
        rt.sleepers -= 1;
        rt.net.router.end_sleep();
        if rt.net.pmi_hung_up() {
            eprintln!("rmpi: rank {}: the launcher went away; exiting", rt.net.world.rank);
            std::process::exit(1);
        }
        spin_start = None;
    }
}

/// `RMPI_STALL_REPORT_SECS`: after this long without progress, a blocked
/// call prints the engine's state once (a debugging aid).
fn stall_report_after() -> Option<Duration> {
    static AFTER: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *AFTER.get_or_init(|| {
        std::env::var("RMPI_STALL_REPORT_SECS").ok().and_then(|v| v.parse::<f64>().ok()).map(Duration::from_secs_f64)
    })
}

fn sleep_on(fds: &[std::os::fd::RawFd], timeout_ms: i32) {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: pfds is a valid array of pollfd of the given length.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
}
