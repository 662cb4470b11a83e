//! Each rank sends 4 KiB to the next rank and receives from the previous
//! one, then prints its transport counters in rank order, one line per
//! transport:
//! `rank R: NAME packets_sent=.. bytes_sent=.. packets_received=.. bytes_received=.. doorbells_rung=..`
//! (`rank R: no transports` when it has none, e.g. a singleton).
use rmpi::prelude::*;

mod common;

fn main() {
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    let (me, n) = (world.rank(), world.size());
    let out = vec![me as u8; 4096];
    let mut inp = vec![0u8; 4096];
    rmpi::point_to_point::send_receive_into(
        &out[..],
        &world.process_at_rank((me + 1) % n),
        &mut inp[..],
        &world.process_at_rank((me + n - 1) % n),
    );
    if inp.iter().any(|&b| b != ((me + n - 1) % n) as u8) {
        common::fail(&world, "received the wrong bytes");
    }
    world.barrier();
    let counters = rmpi::environment::transport_counters();
    for r in 0..n {
        if r == me {
            if counters.is_empty() {
                println!("rank {me}: no transports");
            }
            for c in &counters {
                println!(
                    "rank {me}: {} packets_sent={} bytes_sent={} packets_received={} bytes_received={} doorbells_rung={}",
                    c.transport, c.packets_sent, c.bytes_sent, c.packets_received, c.bytes_received, c.doorbells_rung
                );
            }
        }
        world.barrier();
    }
}
