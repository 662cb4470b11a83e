//! The split copy (a large single-copy message copied by both ranks at
//! once) as real jobs: contents right with it on, off, at extreme shares,
//! and with cross-memory attach disabled; on only when asked or allowed.

mod common;
use common::*;

/// `splits=N` from rank 1's line, after checking both ranks said ok.
fn run_split(envs: &[(&str, &str)]) -> u64 {
    let mut job = Job::new(2, "split_copy");
    for (k, v) in envs {
        job = job.env(k, v);
    }
    let out = job.run();
    out.assert_ok();
    assert!(out.stdout.contains("rank 0: split ok"), "{envs:?}: {}", out.stdout);
    let line = out.stdout.lines().find(|l| l.starts_with("rank 1: split ok")).unwrap_or_else(|| {
        panic!("{envs:?}: no line from rank 1: {}", out.stdout);
    });
    line.rsplit("splits=").next().and_then(|v| v.trim().parse().ok()).expect("splits=N")
}

/// Whether ranks may read each other's memory: as the transports' probe
/// decides it (Yama's ptrace_scope 0 or absent; one uid in tests).
fn cma_works() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").map(|s| s.trim() == "0").unwrap_or(true)
        && std::env::var("RMPI_CMA_DISABLE").map_or(true, |v| v != "1")
}

#[test]
fn split_copies_carry_every_byte_and_happen_when_enabled() {
    let on = run_split(&[("RMPI_SPLIT_COPY", "65536")]);
    if cma_works() {
        // 11 sizes of section 1, most of the window, the truncated, ANY_SOURCE,
        // probed and synchronous receives: well over 20.
        assert!(on >= 20, "only {on} receives split");
    } else {
        assert_eq!(on, 0, "no cross-memory attach, yet splits");
    }
    assert_eq!(run_split(&[("RMPI_SPLIT_COPY", "0")]), 0, "switched off, yet splits");
    // The defaults (on from 32 KiB unless ranks outnumber cores): right bytes.
    run_split(&[]);
}

#[test]
fn extreme_shares_and_a_tiny_threshold_stay_right() {
    for share in ["1", "1023"] {
        run_split(&[("RMPI_SPLIT_COPY", "65536"), ("RMPI_SPLIT_SHARE", share)]);
    }
    // Every rendezvous message splits (the threshold under the eager limit).
    let all = run_split(&[("RMPI_SPLIT_COPY", "1"), ("RMPI_SPLIT_BUSY_MIN", "1")]);
    if cma_works() {
        assert!(all >= 40, "only {all} receives split");
    }
}

#[test]
fn without_cross_memory_attach_nothing_splits_and_everything_arrives() {
    let n = run_split(&[("RMPI_CMA_DISABLE", "1"), ("RMPI_SPLIT_COPY", "65536")]);
    assert_eq!(n, 0);
}
