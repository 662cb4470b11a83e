//! Every collective across real processes (the `collectives_all` example):
//! blocking forms, several nonblocking ones in flight at once on one
//! communicator, and a persistent one, at the sizes the collectives issue
//! names (9 ranks on this 2-core machine is oversubscribed), over shared
//! memory and over TCP.

mod common;
use common::*;
use std::time::Duration;

fn run(n: usize, tcp: bool) {
    let job = Job::new(n, "collectives_all").timeout(Duration::from_secs(180));
    let out = if tcp { job.tcp() } else { job }.run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.ends_with("collectives_all ok")).count();
    assert_eq!(ok, n, "n={n} tcp={tcp}: {}", out.stdout);
}

#[test]
fn every_collective_is_right_over_shared_memory() {
    for n in [1, 2, 3, 4, 7, 9] {
        run(n, false);
    }
}

#[test]
fn every_collective_is_right_over_tcp() {
    for n in [1, 2, 3, 4, 7, 9] {
        run(n, true);
    }
}

#[test]
fn rust_api_collectives_split_and_groups_agree() {
    for (n, tcp) in [(1, false), (2, false), (3, false), (5, false), (2, true), (3, true)] {
        let job = Job::new(n, "collectives").timeout(Duration::from_secs(120));
        let out = if tcp { job.tcp() } else { job }.run();
        out.assert_ok();
        let ok = out.stdout.lines().filter(|l| l.ends_with("collectives ok")).count();
        assert_eq!(ok, n, "n={n} tcp={tcp}: {}", out.stdout);
    }
}

/// Every registered algorithm forced by its `RMPI_COLL_*` override (one job
/// per sweep assignment, each forcing one algorithm of every collective):
/// the runtime-level program with every algorithm, the Rust API program
/// (which reduces with a non-commutative operator) with the order-keeping
/// ones for reductions.
#[test]
fn every_algorithm_forced_passes_through_the_runtime_and_the_rust_api() {
    use rmpi_runtime::select::{sweep, sweep_len};
    for k in 0..sweep_len() {
        for (example, order_preserving) in [("collectives_all", false), ("collectives", true)] {
            for n in [3, 4] {
                let mut job = Job::new(n, example).timeout(Duration::from_secs(120));
                let env = sweep(k, order_preserving);
                for (var, alg) in &env {
                    job = job.env(var, alg);
                }
                let out = job.run();
                out.assert_ok();
                let ok = out.stdout.lines().filter(|l| l.ends_with(&format!("{example} ok"))).count();
                assert_eq!(ok, n, "{example} n={n} with {env:?}: {}", out.stdout);
            }
        }
    }
}

/// The runtime-level and Rust API programs on pretended nodes
/// (`RMPI_NODE_MAP`), where barrier, bcast, reduce and allreduce take their
/// node-aware forms.
#[test]
fn collectives_are_right_across_pretended_nodes() {
    for (example, n, map) in [
        ("collectives_all", 4, "2"),
        ("collectives_all", 5, "0,1,1,0,1"),
        ("collectives", 4, "2"),
        ("collectives", 6, "3"),
    ] {
        let out = Job::new(n, example).env("RMPI_NODE_MAP", map).timeout(Duration::from_secs(120)).run();
        out.assert_ok();
        let ok = out.stdout.lines().filter(|l| l.ends_with(&format!("{example} ok"))).count();
        assert_eq!(ok, n, "{example} n={n} map {map}: {}", out.stdout);
    }
}

/// The blocking bcast, allreduce and alltoall that run straight between the
/// callers' buffers (`big_collectives`): sizes around their threshold and
/// large, in place, every element size, nonblocking collectives in flight
/// across them, many outstanding nonblocking alltoalls; over shared memory
/// (oversubscribed at 7), over TCP and across pretended nodes (where bcast
/// and allreduce take schedules), and with the schedules forced.
#[test]
fn direct_large_collectives_are_right() {
    let runs: &[(usize, &[(&str, &str)])] = &[
        (1, &[]),
        (2, &[]),
        (3, &[]),
        (4, &[]),
        (7, &[]),
        (3, &[("RMPI_TRANSPORT", "tcp")]),
        (4, &[("RMPI_NODE_MAP", "2")]),
        (4, &[("RMPI_COLL_ALLREDUCE", "ring"), ("RMPI_COLL_BCAST", "binomial"), ("RMPI_COLL_ALLTOALL", "pairwise")]),
    ];
    for &(n, env) in runs {
        let mut job = Job::new(n, "big_collectives").timeout(Duration::from_secs(180));
        for (k, v) in env {
            job = job.env(k, v);
        }
        let out = job.run();
        out.assert_ok();
        let ok = out.stdout.lines().filter(|l| l.ends_with("big_collectives ok")).count();
        assert_eq!(ok, n, "n={n} with {env:?}: {}", out.stdout);
    }
}

/// A /dev/shm too small for a communicator's collective area (8 MiB: the
/// point-to-point rings fit, an area of 4 members, about 15 MiB of sparse
/// file, does not): the area is not made and the large collectives run
/// over messages with the same results. Made regardless, its pages ended
/// in SIGBUS once the large collectives wrote them (checked by hand).
/// Needs root (a mount namespace with its own /dev/shm); skipped otherwise.
#[test]
fn small_dev_shm_keeps_collectives_off_the_area() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root for a mount namespace");
        return;
    }
    let n = 4;
    let script = "mount -t tmpfs -o size=8m,mode=1777 tmpfs /dev/shm && exec \"$@\"";
    let job = Job::direct("unshare".into())
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .args([rmpirun().as_os_str(), "-n".as_ref(), "4".as_ref(), example("big_collectives").as_os_str()])
        .timeout(Duration::from_secs(180));
    let out = job.run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.ends_with("big_collectives ok")).count();
    assert_eq!(ok, n, "{}", out.stdout);
}
