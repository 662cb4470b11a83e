//! `abort --rank R --code C`: after a barrier, rank R calls MPI_Abort with
//! code C while the other ranks block in a receive that never completes.
use rmpi::prelude::*;

mod common;

fn main() {
    let args = common::Args::parse();
    let victim: i32 = args.get("rank", 0);
    let code: i32 = args.get("code", 1);
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    world.barrier();
    if world.rank() == victim {
        world.abort(code);
    }
    let (_, _) = world.any_process().receive::<i32>();
    common::fail(&world, "a receive completed although nobody sends");
}
