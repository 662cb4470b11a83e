//! Latency and bandwidth between ranks 0 and 1.
//!
//! `pingpong --size BYTES --iters N [--warmup W]`
//!
//! Rank 0 sends BYTES to rank 1, which sends them back, N times (after W
//! untimed rounds). Rank 0 prints
//! `size=BYTES latency_us=L bandwidth_MBps=B` where L is half the mean
//! round-trip time and B = BYTES / L (10^6 bytes per second).
use rmpi::prelude::*;

mod common;

fn main() {
    let args = common::Args::parse();
    let size: usize = args.get("size", 8);
    let iters: usize = args.get("iters", 1000).max(1);
    let warmup: usize = args.get("warmup", (iters / 10).max(1));
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    if world.size() < 2 {
        common::fail(&world, "pingpong needs at least 2 ranks");
    }
    let me = world.rank();
    let mut buf = vec![0u8; size];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = i as u8;
    }
    let round = |buf: &mut Vec<u8>| match me {
        0 => {
            world.process_at_rank(1).send(&buf[..]);
            world.process_at_rank(1).receive_into(&mut buf[..]);
        }
        1 => {
            world.process_at_rank(0).receive_into(&mut buf[..]);
            world.process_at_rank(0).send(&buf[..]);
        }
        _ => {}
    };
    for _ in 0..warmup {
        round(&mut buf);
    }
    world.barrier();
    let t0 = rmpi::time();
    for _ in 0..iters {
        round(&mut buf);
    }
    let elapsed = rmpi::time() - t0;
    if buf.iter().enumerate().any(|(i, &b)| b != i as u8) {
        common::fail(&world, "payload changed on the way");
    }
    if me == 0 {
        let latency = elapsed / (2.0 * iters as f64);
        let bandwidth = if latency > 0.0 { size as f64 / latency / 1e6 } else { 0.0 };
        println!("size={size} latency_us={:.3} bandwidth_MBps={bandwidth:.2}", latency * 1e6);
    }
}
