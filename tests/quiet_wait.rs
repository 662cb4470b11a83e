//! A rank blocked in a receive sleeps: it spins only briefly, then waits on
//! its doorbell, so 3 s of waiting costs well under 0.3 s of CPU.

mod common;
use common::*;
use std::time::Duration;

fn cpu_seconds(out: &JobOutput) -> f64 {
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("cpu_seconds="))
        .unwrap_or_else(|| panic!("no cpu line:\n{}", out.stdout));
    line.split("cpu_seconds=").nth(1).and_then(|v| v.trim().parse().ok()).expect("a number")
}

#[test]
fn rank_blocked_three_seconds_in_recv_uses_little_cpu() {
    let out = Job::new(2, "blocked_recv").args(["--delay-ms", "3000"]).timeout(Duration::from_secs(60)).run();
    out.assert_ok();
    let cpu = cpu_seconds(&out);
    assert!(cpu < 0.3, "rank 0 used {cpu} s of CPU while blocked 3 s");
}

#[test]
fn rank_blocked_three_seconds_over_tcp_uses_little_cpu() {
    let out = Job::new(2, "blocked_recv").args(["--delay-ms", "3000"]).tcp().timeout(Duration::from_secs(60)).run();
    out.assert_ok();
    let cpu = cpu_seconds(&out);
    assert!(cpu < 0.3, "rank 0 used {cpu} s of CPU while blocked 3 s over TCP");
}

#[test]
fn eight_ranks_on_two_cores_make_progress() {
    // Oversubscribed: 8 ranks pass a ring token 8 times around and broadcast.
    let out = Job::new(8, "ring").timeout(Duration::from_secs(60)).run();
    out.assert_ok();
    assert!(out.stdout.contains("ring ok: token = 64"), "{}", out.stdout);
    let out = Job::new(8, "psum").timeout(Duration::from_secs(60)).run();
    out.assert_ok();
    assert_eq!(out.stdout.lines().filter(|l| l.ends_with("sum = 120")).count(), 8);
}
