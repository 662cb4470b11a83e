//! Passes an i32 token around the ring N times (N = number of ranks). Rank 0
//! starts with 0 and every rank adds 1 on every pass, so rank 0 ends with
//! N*N, checks it and prints `ring ok: token = V`.
use rmpi::prelude::*;

mod common;

fn main() {
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    let next = world.process_at_rank((rank + 1) % size);
    let prev = world.process_at_rank((rank + size - 1) % size);
    let mut token = 0i32;
    for _ in 0..size {
        if size == 1 {
            token += 1;
            continue;
        }
        if rank == 0 {
            token += 1;
            next.send(&token);
            prev.receive_into(&mut token);
        } else {
            prev.receive_into(&mut token);
            token += 1;
            next.send(&token);
        }
    }
    if rank == 0 {
        if token != size * size {
            common::fail(&world, &format!("token is {token}, expected {}", size * size));
        }
        println!("ring ok: token = {token}");
    }
}
