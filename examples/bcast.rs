//! Rank 0 broadcasts 0..100 (i32); every rank checks it and prints
//! `rank R: bcast ok`.
use rmpi::prelude::*;

mod common;

fn main() {
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    let rank = world.rank();
    let expected: Vec<i32> = (0..100).collect();
    let mut data = if rank == 0 { expected.clone() } else { vec![-1; 100] };
    world.process_at_rank(0).broadcast_into(&mut data);
    if data != expected {
        common::fail(&world, &format!("broadcast data differs: {:?}...", &data[..8]));
    }
    println!("rank {rank}: bcast ok");
}
