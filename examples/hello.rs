//! Prints `Hello, World! I am process R of N on HOST.` on every rank.
use rmpi::prelude::*;

fn main() {
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    println!(
        "Hello, World! I am process {} of {} on {}.",
        world.rank(),
        world.size(),
        rmpi::environment::processor_name()
    );
}
