//! Point-to-point under load: many messages of log-uniform sizes with random
//! tags and wildcard receives (every payload and per-pair order checked by
//! the `stress` example), and two ranks exchanging 64 MiB at once.
//!
//! `RMPI_STRESS_MESSAGES` overrides the message count (default 200,000).

mod common;
use common::*;
use std::time::Duration;

fn messages() -> String {
    std::env::var("RMPI_STRESS_MESSAGES").unwrap_or_else(|_| "200000".into())
}

fn stress(n: usize, tcp: bool) {
    let job = Job::new(n, "stress")
        .args(["--messages", &messages(), "--max-size", "4194304", "--seed", "42"])
        .timeout(Duration::from_secs(900));
    let out = if tcp { job.tcp() } else { job }.run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.starts_with("stress ok")).count();
    assert_eq!(ok, n, "every rank reports success:\n{}", out.stdout);
}

#[test]
fn stress_two_ranks_over_shared_memory() {
    stress(2, false);
}

#[test]
fn stress_four_ranks_over_shared_memory() {
    stress(4, false);
}

#[test]
fn stress_two_ranks_over_tcp() {
    stress(2, true);
}

#[test]
fn stress_four_ranks_over_tcp() {
    stress(4, true);
}

fn exchange(mode: &str, tcp: bool) {
    let job = Job::new(2, "exchange")
        .args(["--bytes", &(64usize << 20).to_string(), "--reps", "20", "--mode", mode])
        .timeout(Duration::from_secs(300));
    let out = if tcp { job.tcp() } else { job }.run();
    out.assert_ok();
    assert!(out.stdout.contains("exchange ok"), "{}", out.stdout);
}

#[test]
fn simultaneous_64mib_sendrecv_never_deadlocks() {
    exchange("sendrecv", false);
}

#[test]
fn simultaneous_64mib_isend_irecv_never_deadlocks() {
    exchange("isend", false);
}

#[test]
fn simultaneous_64mib_exchange_over_tcp_never_deadlocks() {
    exchange("sendrecv", true);
    exchange("isend", true);
}

fn window(env: &[(&str, &str)]) {
    let mut job = Job::new(2, "window").timeout(Duration::from_secs(300)).tcp();
    for (k, v) in env {
        job = job.env(k, v);
    }
    let out = job.run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.ends_with("window ok")).count();
    assert_eq!(ok, 2, "{env:?}: every rank checked its windows:\n{}", out.stdout);
}

#[test]
fn windows_of_large_messages_over_tcp_keep_order_and_contents() {
    // Defaults; small socket buffers so that writes stop inside frames,
    // with packets smaller than the messages so that the look-ahead stops
    // at multi-chunk ones; large frames in small writes, several large
    // frames gathered into one write; and one packet a write.
    window(&[]);
    window(&[("RMPI_TCP_SOCKBUF", "32768"), ("RMPI_TCP_MAX_PACKET", "100000")]);
    // Large frames written 50 000 bytes per call (and whole, with no cap).
    window(&[("RMPI_TCP_WRITE", "50000"), ("RMPI_TCP_SOCKBUF", "65536"), ("RMPI_TCP_GATHER", "1048576")]);
    window(&[("RMPI_TCP_WRITE", "0")]);
    window(&[("RMPI_TCP_DEFER_RTS", "0")]);
    window(&[("RMPI_TCP_GATHER", "0")]);
}
