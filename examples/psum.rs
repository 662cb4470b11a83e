//! Sums 0.0, 1.0, ..., 15.0 over the ranks: each rank adds its share (the 16
//! values split as evenly as possible), an all-reduce sums the shares, and
//! every rank prints `rank R: sum = 120` after checking the result.
use rmpi::prelude::*;

mod common;

const VALUES: usize = 16;

fn main() {
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let (base, extra) = (VALUES / size, VALUES % size);
    let start = rank * base + rank.min(extra);
    let len = base + usize::from(rank < extra);
    let part: f64 = (start..start + len).map(|i| i as f64).sum();
    let mut sum = 0.0f64;
    world.all_reduce_into(&part, &mut sum, SystemOperation::sum());
    if sum != 120.0 {
        common::fail(&world, &format!("sum is {sum}, expected 120"));
    }
    println!("rank {rank}: sum = {sum}");
}
