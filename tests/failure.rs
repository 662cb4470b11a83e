//! A failing rank ends the whole job quickly and loudly: a rank killed by a
//! signal, a rank that exits before finalize, MPI_Abort, Ctrl-C on the
//! launcher, and the launcher killed outright. Each test checks the exit
//! code, the message, the time to end (under 2 s), that no process of the
//! job is left, and that nothing of the job is left in /dev/shm.

mod common;
use common::*;
use std::time::{Duration, Instant};

const END_WITHIN: Duration = Duration::from_secs(2);

fn assert_clean(marker: &str) {
    assert_no_process_left(marker, END_WITHIN);
    // Segments are named after the job; ranks unlink theirs at start-up and
    // the launcher removes leftovers. Other tests' jobs may hold theirs for
    // a moment while they start, so wait for all to go.
    let start = Instant::now();
    loop {
        let left = shm_files("");
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed() < END_WITHIN, "left in /dev/shm: {left:?}");
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// Start a 4-rank job whose rank 0 blocks in a receive (rank 1 would send
/// after a minute), and wait until rank 0 says it is waiting.
fn blocked_job(marker: &str) -> RunningJob {
    let mut job = Job::new(4, "blocked_recv")
        .args(["--delay-ms", "60000"])
        .marked(marker)
        .timeout(Duration::from_secs(30))
        .spawn();
    job.wait_for_line("ready", Duration::from_secs(20));
    job
}

#[test]
fn sigkill_of_one_rank_ends_the_job() {
    let m = marker("sigkill-rank");
    let job = blocked_job(&m);
    let victim = pid_of_rank(&m, 1, Duration::from_secs(5));
    let t = Instant::now();
    // SAFETY: killing a rank of our own job.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    let out = job.finish_within(Duration::from_secs(10));
    assert!(t.elapsed() < END_WITHIN, "job took {:?} to end", t.elapsed());
    assert_eq!(out.code(), Some(128 + 9), "{}", out.stderr);
    assert!(
        out.stderr.contains("rank 1") && out.stderr.contains("signal 9"),
        "message names rank and signal: {}",
        out.stderr
    );
    assert_clean(&m);
}

#[test]
fn exit_before_finalize_ends_the_job_with_its_code() {
    let m = marker("exit-early");
    let out = Job::new(4, "exit_early").args(["--rank", "2"]).marked(&m).timeout(Duration::from_secs(30)).run();
    assert_eq!(out.code(), Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("rank 2"), "message names the rank: {}", out.stderr);
    assert_clean(&m);
}

#[test]
fn mpi_abort_ends_the_job_with_its_code() {
    let m = marker("abort");
    let t = Instant::now();
    let out =
        Job::new(4, "abort").args(["--rank", "1", "--code", "7"]).marked(&m).timeout(Duration::from_secs(30)).run();
    assert_eq!(out.code(), Some(7), "{}", out.stderr);
    assert!(out.stderr.contains("rank 1") && out.stderr.contains("MPI_Abort"), "message: {}", out.stderr);
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_clean(&m);
}

#[test]
fn sigint_to_the_launcher_ends_the_job() {
    let m = marker("sigint");
    let job = blocked_job(&m);
    let t = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(job.pid(), libc::SIGINT) };
    let out = job.finish_within(Duration::from_secs(10));
    assert!(t.elapsed() < END_WITHIN, "job took {:?} to end", t.elapsed());
    assert_eq!(out.code(), Some(130), "{}", out.stderr);
    assert_clean(&m);
}

#[test]
fn sigkill_of_the_launcher_takes_the_ranks_down() {
    let m = marker("sigkill-launcher");
    let job = blocked_job(&m);
    let t = Instant::now();
    // SAFETY: killing our own child.
    unsafe { libc::kill(job.pid(), libc::SIGKILL) };
    let out = job.finish_within(Duration::from_secs(10));
    assert_eq!(out.status.code(), None, "killed by a signal");
    assert_no_process_left(&m, END_WITHIN);
    assert!(t.elapsed() < END_WITHIN + Duration::from_millis(200));
    assert_clean(&m);
}
