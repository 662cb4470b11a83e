//! A rank blocked in a receive should cost (almost) no CPU.
//!
//! `blocked_recv --delay-ms D`
//!
//! After a barrier, rank 0 prints `ready` and blocks in a receive from rank
//! 1, which sleeps D milliseconds and then sends. Rank 0 then prints the CPU
//! time (user + system, all threads) it used while waiting, as
//! `cpu_seconds=X`. Other ranks only take part in the barrier.
use std::io::Write;
use std::time::Duration;

use rmpi::prelude::*;

mod common;

/// CPU time of this process so far, in seconds (getrusage).
fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let args = common::Args::parse();
    let delay_ms: u64 = args.get("delay-ms", 1000);
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    if world.size() < 2 {
        common::fail(&world, "blocked_recv needs at least 2 ranks");
    }
    world.barrier();
    match world.rank() {
        0 => {
            println!("ready");
            std::io::stdout().flush().expect("flush stdout");
            let before = cpu_seconds();
            let (v, _) = world.process_at_rank(1).receive::<u64>();
            let used = cpu_seconds() - before;
            if v != delay_ms {
                common::fail(&world, &format!("received {v}, expected {delay_ms}"));
            }
            println!("cpu_seconds={used:.3}");
        }
        1 => {
            std::thread::sleep(Duration::from_millis(delay_ms));
            world.process_at_rank(0).send(&delay_ms);
        }
        _ => {}
    }
}
