//! The direct receive: `MPI_Recv` from a shared-memory peer, when nothing is
//! queued on its context, waits on that peer's ring alone and copies a plain
//! eager message from the ring straight into the user's buffer: no posted
//! receive, no request, no round through every transport. Anything else
//! (another kind of packet, a message for another receive, a wait longer
//! than a microsecond) leaves the packet where it is for the general path,
//! which then posts the receive and blocks as always.

use std::time::{Duration, Instant};

use rmpi_engine::matching::TagSel;
use rmpi_engine::Status;

use crate::error::MpiResult;
use crate::net::Net;
use crate::state::Runtime;

/// How long the direct receive watches the ring before it yields the core
/// once and the general path (which spins, yields and sleeps) takes over.
/// A ping-pong's reply comes well within it on idle cores; on a loaded
/// machine (five builds on two cores) yielding here, not after a second
/// microsecond of the general path, took the 8-byte latency from ~9-19 us
/// to ~7-10 us.
const DIRECT_SPIN: Duration = Duration::from_micros(1);
/// Spins before the first reading of the clock (a reply usually comes sooner).
const SPINS_BEFORE_CLOCK: u32 = 32;
/// Direct receives in a row before one progress step serves the rank's
/// other traffic (as for blocking calls that are done on entry).
const DIRECT_WITHOUT_PROGRESS: u32 = 16;

/// `RMPI_DIRECT_RECV=0` turns the direct receive off (for comparisons).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("RMPI_DIRECT_RECV").map_or(true, |v| v != "0"))
}

/// Receive from world rank `peer` (rank `src` of the communicator whose
/// context is `ctx`) directly, if that is possible now; `None` sends the
/// caller down the general path. Runs under the runtime lock, which it
/// holds throughout, so no other thread posts or matches meanwhile.
pub(crate) fn recv(
    rt: &mut Runtime,
    peer: u32,
    ctx: u32,
    src: i32,
    tag: TagSel,
    buf: &mut [u8],
) -> MpiResult<Option<Status>> {
    if !enabled() {
        return Ok(None);
    }
    // A posted receive would match first, an unexpected message is older;
    // bytes still unwritten to a socket must not wait behind this call.
    if !rt.net.engine.direct_ready(ctx) || rt.net.router.has_pending_writes() {
        return Ok(None);
    }
    let oversubscribed = rt.oversubscribed;
    let next_cpu_check = &mut rt.next_cpu_check;
    let Net { engine, router, .. } = &mut rt.net;
    let Some(shm) = router.shm_of(peer) else { return Ok(None) };
    if !shm.has_input_from(peer) {
        if oversubscribed {
            return Ok(None);
        }
        let mut spins = 0u32;
        let mut start = None;
        while !shm.has_input_from(peer) {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(SPINS_BEFORE_CLOCK) {
                let now = Instant::now();
                if now - *start.get_or_insert(now) > DIRECT_SPIN {
                    // As the general path does after its first microsecond:
                    // on a loaded machine the peer may wait for this core.
                    // (The lock stays held: the general path reposts at once.)
                    crate::placement::before_yield(shm, next_cpu_check, now);
                    std::thread::yield_now();
                    return Ok(None);
                }
            }
        }
    }
    let mut st = None;
    shm.take_from_if(peer, |pkt| {
        st = engine.direct_eager(peer, pkt, ctx, src, tag, buf);
        st.is_some()
    });
    if st.is_some() {
        rt.done_without_progress += 1;
        // The credit this message freed may have made a Credit packet due;
        // and now and then the rank's other traffic gets its turn (as after
        // blocking calls that are done on entry), if there is any.
        let turn = rt.done_without_progress >= DIRECT_WITHOUT_PROGRESS;
        if turn {
            rt.done_without_progress = 0;
        }
        if rt.net.engine.has_output()
            || (turn && (rt.colls_in_flight > 0 || rt.rma.active() || rt.net.router.may_have_input_besides(peer)))
        {
            rt.progress()?;
            rt.done_without_progress = 0;
        }
    }
    Ok(st)
}
