//! The shared-memory alltoall (runtime/src/shmcoll/alltoall.rs) through the
//! C ABI: every received byte checked at several communicator sizes (7 and
//! 9 ranks on this 2-core machine are oversubscribed), block sizes around
//! the path's inline row, row and limit, in place, mixed datatypes, many
//! calls interleaved with the other shared-memory collectives; and the same
//! values with the path forced, turned off, and over TCP (where it does not
//! apply). The blocking allgather, the same path with one row for all
//! readers, likewise.

mod common;

use common::{compile, run, text};

/// The program, compiled once (the tests run in parallel).
fn exe() -> &'static std::path::Path {
    static EXE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| compile("shmalltoall"))
}

fn passes(ranks: usize, env: &[(&str, &str)]) {
    let o = run(ranks, exe(), env);
    let (out, err) = text(&o);
    assert!(o.status.success(), "shmalltoall on {ranks} ranks {env:?} failed ({}):\n{out}\n{err}", o.status);
    assert!(out.contains("shmalltoall OK"), "shmalltoall {ranks} {env:?}:\n{out}\n{err}");
}

#[test]
fn values_at_every_size_in_place_mixed_types_interleaved() {
    for n in [1, 2, 3, 4, 7, 9] {
        passes(n, &[]);
    }
}

#[test]
fn forced_off_and_over_tcp_give_the_same_values() {
    passes(3, &[("RMPI_COLL_ALLTOALL", "shm"), ("RMPI_COLL_ALLGATHER", "shm")]);
    passes(3, &[("RMPI_COLL_ALLGATHER", "ring")]);
    passes(2, &[("RMPI_COLL_ALLTOALL", "alltoall:shm")]);
    passes(3, &[("RMPI_SHMCOLL", "0")]);
    passes(4, &[("RMPI_COLL_ALLTOALL", "pairwise")]);
    passes(3, &[("RMPI_TRANSPORT", "tcp")]);
}
