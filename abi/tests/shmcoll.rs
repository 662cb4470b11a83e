//! The shared-memory barrier, allreduce and bcast (runtime/src/shmcoll)
//! through the C ABI: values at several communicator sizes (9 ranks on this
//! 2-core machine is oversubscribed), with the path forced and turned off,
//! over TCP (where it does not apply), many communicators created and freed
//! without leaving files or descriptors, and a rank killed while the others
//! wait in a shared-memory barrier.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{compile, prefix, run, text};

/// The program, compiled once (the tests run in parallel).
fn exe() -> &'static std::path::Path {
    static EXE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| compile("shmcoll"))
}

fn passes(ranks: usize, env: &[(&str, &str)]) {
    let exe = exe();
    let o = run(ranks, exe, env);
    let (out, err) = text(&o);
    assert!(o.status.success(), "shmcoll on {ranks} ranks {env:?} failed ({}):\n{out}\n{err}", o.status);
    assert!(out.contains("shmcoll OK"), "shmcoll {ranks} {env:?}:\n{out}\n{err}");
}

#[test]
fn values_every_op_class_in_place_every_root_many_comms_interleaved() {
    for n in [1, 2, 3, 4, 7, 9] {
        passes(n, &[]);
    }
}

#[test]
fn forced_off_and_over_tcp_give_the_same_values() {
    passes(3, &[("RMPI_COLL_BARRIER", "shm"), ("RMPI_COLL_ALLREDUCE", "shm"), ("RMPI_COLL_BCAST", "bcast:shm")]);
    passes(3, &[("RMPI_SHMCOLL", "0")]);
    passes(4, &[("RMPI_COLL_ALLREDUCE", "recursive_doubling"), ("RMPI_COLL_BCAST", "binomial")]);
    passes(3, &[("RMPI_TRANSPORT", "tcp")]);
}

/// Files of the job started by the rmpirun with process id `pid` (its job
/// id is `rmpi-<pid>-<hex>`, its files `rmpi-<job id>-...`).
fn files_of_job(pid: u32) -> Vec<String> {
    let prefix = format!("rmpi-rmpi-{pid}-");
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten().filter_map(|e| e.file_name().into_string().ok()).filter(|n| n.starts_with(&prefix)).collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_rank_killed_while_others_wait_in_a_shm_barrier_ends_the_job() {
    let exe = exe();
    let mut child = Command::new(prefix().join("bin/rmpirun"))
        .args(["--timeout", "60", "-n", "4"])
        .arg(exe)
        .arg("kill")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rmpirun");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let line = lines.next().expect("a line").expect("readable");
    assert_eq!(line, "waiting");
    // The last rank dies 200 ms after this line, while the others wait.
    let t = Instant::now();
    let status = child.wait().expect("wait for rmpirun");
    let took = t.elapsed();
    assert!(took < Duration::from_millis(2200), "job took {took:?} to end");
    assert!(!status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(!rest.iter().any(|l| l.contains("not reached")), "{rest:?}");
    assert_eq!(files_of_job(pid), Vec::<String>::new(), "left in /dev/shm");
}
