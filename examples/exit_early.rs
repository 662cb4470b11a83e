//! `exit_early --rank R`: rank R exits with status 3 right after
//! initializing MPI (without finalizing); the others block in a barrier that
//! can never complete.
use rmpi::prelude::*;

mod common;

fn main() {
    let args = common::Args::parse();
    let quitter: i32 = args.get("rank", 1);
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    if world.rank() == quitter {
        std::process::exit(3);
    }
    world.barrier();
    if world.size() > 1 && (0..world.size()).contains(&quitter) {
        common::fail(&world, "the barrier completed without the rank that exited");
    }
}
