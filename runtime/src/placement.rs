//! Moving off a CPU shared with a peer.
//!
//! Two ranks that spin and yield while they wait, put on one CPU by the
//! kernel (say after another program ran on the other one), stay there
//! while the other CPU idles: each yields to the other every microsecond
//! or so and so always looks cache-hot to the load balancer, which will not
//! move a cache-hot task. A 1-byte round trip then costs ~5 µs instead of
//! ~0.5. rmpirun binds ranks that fill a host's cores, which rules this
//! out; for unbound ranks (fewer than the cores, or started by another
//! launcher) the waiting loop checks now and then whether a local peer was
//! last seen on its CPU, and if so leaves that CPU: it takes it out of its
//! affinity mask, which moves it at once, then puts the whole mask back,
//! which leaves it where it is and the balancer free as before.

use std::time::Instant;

/// How often a waiting rank (not oversubscribed) checks whether a local
/// peer shares its CPU.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_micros(200);

/// Called by a waiting loop that is about to yield (the rank is not
/// oversubscribed): every [`CHECK_EVERY`], if a local peer was last seen on
/// this CPU, move off it.
pub(crate) fn before_yield(shm: &mut rmpi_transports::shm::ShmTransport, next_check: &mut Instant, now: Instant) {
    if now < *next_check {
        return;
    }
    *next_check = now + CHECK_EVERY;
    if shm.shares_cpu() {
        move_off_this_cpu();
        // Say where it went before a peer looks again.
        shm.shares_cpu();
    }
}

/// This thread's affinity mask (`None` if the kernel will not say).
pub(crate) fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the call writes at
    // most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut mask: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask) == 0).then_some(mask)
    }
}

/// Leave the current CPU for another one this thread may run on, keeping
/// its affinity as it was. Does nothing for a thread bound to one CPU.
pub(crate) fn move_off_this_cpu() {
    let Some(mask) = affinity() else { return };
    // SAFETY: the set operations read and write local sets; the calls take
    // pointers to them with their size.
    unsafe {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::CPU_COUNT(&mask) < 2 {
            return;
        }
        let cpu = libc::sched_getcpu();
        if cpu < 0 || cpu as usize >= libc::CPU_SETSIZE as usize || !libc::CPU_ISSET(cpu as usize, &mask) {
            return;
        }
        let mut others = mask;
        libc::CPU_CLR(cpu as usize, &mut others);
        if libc::sched_setaffinity(0, size, &others) == 0 {
            libc::sched_setaffinity(0, size, &mask);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_keeps_the_mask_and_leaves_the_cpu_when_there_is_another() {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: as in move_off_this_cpu.
        let (before, count) = unsafe {
            let mut m: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size, &mut m), 0);
            (m, libc::CPU_COUNT(&m))
        };
        let cpu = unsafe { libc::sched_getcpu() };
        move_off_this_cpu();
        let now = unsafe { libc::sched_getcpu() };
        let after = unsafe {
            let mut m: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size, &mut m), 0);
            m
        };
        assert!(unsafe { libc::CPU_EQUAL(&before, &after) }, "the mask is restored");
        if count >= 2 {
            // Moved when it ran the second call; the kernel may move it
            // back since, but rarely within these few instructions.
            assert!(now != cpu || now < 0, "still on CPU {cpu}");
        }
    }
}
