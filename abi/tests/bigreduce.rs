//! The large blocking allreduce (and the blocking reduce) through the shared area
//! (runtime/src/shmcoll/bigreduce.rs) through the C ABI: values of sums,
//! MAXLOC and a non-commutative user op around every size limit, in place
//! and not, mixed with other collectives, at several communicator sizes
//! (7 and 9 ranks on this 2-core machine are oversubscribed), and the same
//! values with the path turned off or forced elsewhere and over TCP (where
//! it does not apply).

mod common;

use common::{compile, run, text};

/// The program, compiled once (the tests run in parallel).
fn exe() -> &'static std::path::Path {
    static EXE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| compile("bigreduce"))
}

fn passes(ranks: usize, env: &[(&str, &str)]) {
    let o = run(ranks, exe(), env);
    let (out, err) = text(&o);
    assert!(o.status.success(), "bigreduce on {ranks} ranks {env:?} failed ({}):\n{out}\n{err}", o.status);
    assert!(out.contains("bigreduce OK"), "bigreduce {ranks} {env:?}:\n{out}\n{err}");
}

#[test]
fn large_allreduce_values_at_every_size() {
    for n in [1, 2, 3, 4, 7, 9] {
        passes(n, &[]);
    }
}

#[test]
fn large_allreduce_small_chunks_and_off_and_over_tcp() {
    // Chunks of one page: many chunks per call, shares of a few items.
    passes(3, &[("RMPI_SHMCOLL_CHUNK", "4096")]);
    passes(2, &[("RMPI_COLL_ALLREDUCE", "shm")]);
    passes(3, &[("RMPI_SHMCOLL", "0")]);
    passes(4, &[("RMPI_COLL_ALLREDUCE", "recursive_doubling"), ("RMPI_COLL_REDUCE", "binomial")]);
    passes(3, &[("RMPI_TRANSPORT", "tcp")]);
}
