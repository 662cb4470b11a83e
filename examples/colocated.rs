//! Two unbound ranks put on one CPU part again: each moves itself onto the
//! lowest CPU of its affinity mask and back to the whole mask (so both
//! share that CPU and look cache-hot to the kernel's balancer), then they
//! ping-pong 1-byte messages in batches until they run on different CPUs,
//! for up to `--seconds S` (default 20). Run with `--bind-to none` and 2
//! ranks. Prints `rank R: colocated ok` (or `colocated skipped` when the
//! mask has one CPU); a rank that never leaves aborts the job.

use std::time::{Duration, Instant};

use rmpi_runtime::api;
use rmpi_runtime::{SendMode, ThreadLevel, COMM_WORLD as W};

fn mask() -> libc::cpu_set_t {
    // SAFETY: a zeroed set is valid; the call writes at most its size.
    unsafe {
        let mut m: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut m);
        m
    }
}

fn cpu() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::sched_getcpu() }
}

fn main() {
    api::init(ThreadLevel::Single).expect("init");
    let me = api::comm_rank(W).unwrap();
    assert_eq!(api::comm_size(W).unwrap(), 2, "needs 2 ranks");
    let seconds: u64 =
        std::env::args().skip_while(|a| a != "--seconds").nth(1).and_then(|v| v.parse().ok()).unwrap_or(20);
    let full = mask();
    // SAFETY: CPU_COUNT / CPU_ISSET read the local set.
    let count = unsafe { libc::CPU_COUNT(&full) };
    if count < 2 {
        println!("rank {me}: colocated skipped");
        api::finalize().unwrap();
        return;
    }
    let first = (0..libc::CPU_SETSIZE as usize).find(|&c| unsafe { libc::CPU_ISSET(c, &full) }).expect("a cpu");
    // SAFETY: sets built from a zeroed set and the mask we read.
    unsafe {
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(first, &mut one);
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(libc::sched_setaffinity(0, size, &one), 0);
        assert_eq!(libc::sched_setaffinity(0, size, &full), 0);
    }
    api::barrier(W).unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let other = 1 - me;
    let mut b = [0u8; 1];
    let mut rounds = 0u64;
    let outcome = loop {
        for _ in 0..200 {
            if me == 0 {
                api::send(&b, other, 1, W, SendMode::Standard).unwrap();
                api::recv(&mut b, other, 1, W).unwrap();
            } else {
                api::recv(&mut b, other, 1, W).unwrap();
                api::send(&b, other, 1, W, SendMode::Standard).unwrap();
            }
        }
        rounds += 200;
        // Both ranks learn both CPUs and rank 0's verdict.
        let mine = cpu().to_le_bytes();
        let mut theirs = [0u8; 4];
        api::sendrecv(&mine, other, 2, &mut theirs, other, 2, W).unwrap();
        // 1: apart; 2: out of time; 0: go on.
        let verdict = if i32::from_le_bytes(theirs) != cpu() {
            1
        } else if Instant::now() > deadline {
            2
        } else {
            0
        };
        let mut verdict = [verdict];
        api::bcast(&mut verdict, 0, W).unwrap();
        if verdict[0] != 0 {
            break verdict[0];
        }
    };
    if outcome == 2 {
        eprintln!("rank {me}: still sharing a CPU after {rounds} round trips");
        api::abort(W, 3, "ranks stayed on one CPU");
    }
    println!("rank {me}: colocated ok after {rounds} round trips");
    api::finalize().unwrap();
}
