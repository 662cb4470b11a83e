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
