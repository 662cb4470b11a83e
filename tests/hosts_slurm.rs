//! rmpirun inside a Slurm allocation: hosts come from the allocation and
//! the node proxies are started with one `srun` step, as MPICH's Hydra
//! does. Runs on the three-node namespace cluster of
//! `tests/slurm/cluster.sh` (real slurmctld and one slurmd per namespace
//! node n1..n3), brought up once for this binary.
//!
//! Needs root, network namespaces and the cluster script
//! (`RMPI_SLURM_CLUSTER_SH` may point at another checkout's); elsewhere the
//! tests pass after printing why they did not run.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const END_WITHIN: Duration = Duration::from_secs(2);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cluster, shared by every test of this binary. `cluster.sh up
/// --owner` leaves a watcher that takes it down when this process is gone.
struct Cluster {
    dir: PathBuf,
}

/// `Ok(cluster)`, or `Err(why it cannot run here)`.
fn cluster() -> &'static Result<Cluster, String> {
    static C: OnceLock<Result<Cluster, String>> = OnceLock::new();
    C.get_or_init(|| {
        // RMPI_SLURM_CLUSTER_SH: another checkout's script (before it is merged here).
        let script = std::env::var_os("RMPI_SLURM_CLUSTER_SH")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("tests/slurm/cluster.sh"));
        if !script.exists() {
            return Err("tests/slurm/cluster.sh is not in this tree".into());
        }
        let dir = std::env::temp_dir().join(format!("rmpi-hosts-slurm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(&script)
            .args(["up", "--nodes", "3", "--owner", &std::process::id().to_string()])
            .arg(&dir)
            .env("RMPI_SLURM_QUIET", "1")
            .output()
            .expect("run cluster.sh");
        match out.status.code() {
            Some(0) => Ok(Cluster { dir }),
            Some(3) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            _ => panic!("cluster.sh up failed ({:?}):\n{}", out.status, String::from_utf8_lossy(&out.stderr)),
        }
    })
}

macro_rules! require_cluster {
    () => {
        match cluster() {
            Ok(c) => c,
            Err(why) => {
                eprintln!("skipped: rmpirun-in-Slurm tests need the namespace Slurm cluster ({why})");
                return;
            }
        }
    };
}

/// `salloc SALLOC_ARGS... rmpirun RMPIRUN_ARGS... EXAMPLE ARGS...`
fn salloc(c: &Cluster, salloc_args: &[&str], rmpirun_args: &[&str], ex: &str, ex_args: &[&str], m: &str) -> Job {
    let mut job = Job::direct(PathBuf::from("salloc"))
        .args(salloc_args)
        .args([rmpirun()])
        .args(rmpirun_args)
        .args([example(ex)])
        .args(ex_args)
        .env("SLURM_CONF", &c.dir.join("slurm.conf").display().to_string())
        .marked(m)
        .timeout(Duration::from_secs(120));
    // An outer job's variables must not leak into ours.
    for (k, _) in std::env::vars() {
        if k.starts_with("SLURM_") && k != "SLURM_CONF" {
            job = job.env(&k, "");
        }
    }
    job
}

fn ranks_on(out: &JobOutput, np: usize) -> Vec<String> {
    let mut hosts = vec![String::new(); np];
    for line in out.stdout.lines() {
        let Some(rest) = line.strip_prefix("Hello, World! I am process ") else { continue };
        let r: usize = rest.split_whitespace().next().and_then(|x| x.parse().ok()).expect("rank");
        hosts[r] = rest.rsplit(" on ").next().expect("host").trim_end_matches('.').to_string();
    }
    hosts
}

#[test]
fn rmpirun_in_salloc_starts_proxies_with_srun() {
    let c = require_cluster!();
    let m = marker("salloc");
    let out = salloc(c, &["-N", "3"], &["-ppn", "2"], "hello", &[], &m).run();
    out.assert_ok();
    assert_eq!(ranks_on(&out, 6), ["n1", "n1", "n2", "n2", "n3", "n3"], "{}", out.stdout);
    let out = salloc(c, &["-N", "3", "--ntasks-per-node=2"], &["-l"], "bcast", &[], &m).run();
    out.assert_ok();
    assert_eq!(out.stdout.lines().filter(|l| l.ends_with("bcast ok")).count(), 6, "{}", out.stdout);
    let out = salloc(c, &["-N", "3"], &["-ppn", "2", "-l"], "psum", &[], &m).run();
    out.assert_ok();
    assert_eq!(out.stdout.lines().filter(|l| l.ends_with("sum = 120")).count(), 6, "{}", out.stdout);
    // Ranks 1 → 2 cross nodes: TCP.
    let out = salloc(c, &["-N", "3"], &["-ppn", "2"], "counters", &[], &m).run();
    out.assert_ok();
    let tcp_sent = |rank: u32| -> u64 {
        out.stdout
            .lines()
            .filter(|l| l.starts_with(&format!("rank {rank}: tcp ")))
            .filter_map(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix("bytes_sent=")))
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    };
    assert!(tcp_sent(1) >= 4096 && tcp_sent(3) >= 4096 && tcp_sent(5) >= 4096, "{}", out.stdout);
    assert!(tcp_sent(0) < 4096, "rank 0 → 1 on n1 went over tcp:\n{}", out.stdout);
    assert_no_process_left(&m, END_WITHIN);
}

#[test]
fn rmpirun_in_sbatch() {
    let c = require_cluster!();
    let m = marker("sbatch");
    let outdir = std::env::temp_dir().join(format!("rmpi-hosts-sbatch-{}", std::process::id()));
    std::fs::create_dir_all(&outdir).expect("temp dir");
    let outfile = outdir.join("out");
    let script = outdir.join("job.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n#SBATCH -N 3\n#SBATCH --ntasks-per-node=2\n{} -l {}\n",
            rmpirun().display(),
            example("psum").display()
        ),
    )
    .expect("write job script");
    let out = Job::direct(PathBuf::from("sbatch"))
        .args(["--wait", "-o"])
        .args([&outfile, &script])
        .env("SLURM_CONF", &c.dir.join("slurm.conf").display().to_string())
        .marked(&m)
        .timeout(Duration::from_secs(120))
        .run();
    out.assert_ok();
    let text = std::fs::read_to_string(&outfile).expect("job output file");
    assert_eq!(text.lines().filter(|l| l.ends_with("sum = 120")).count(), 6, "{text}");
    let _ = std::fs::remove_dir_all(&outdir);
}

#[test]
fn killed_rank_in_the_allocation_ends_the_job() {
    let c = require_cluster!();
    let m = marker("slurmkill");
    let mut job = salloc(c, &["-N", "3"], &["-ppn", "2"], "blocked_recv", &["--delay-ms", "60000"], &m).spawn();
    job.wait_for_line("ready", Duration::from_secs(60));
    let victim = pid_of_rank(&m, 5, Duration::from_secs(5));
    let t0 = Instant::now();
    // SAFETY: kill(2) of a rank of this test's job.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    let out = job.finish_within(Duration::from_secs(15));
    // salloc passes on rmpirun's status.
    assert_eq!(out.code(), Some(137), "{}", out.stderr);
    assert!(out.stderr.contains("rank 5 on n3") && out.stderr.contains("signal 9"), "{}", out.stderr);
    assert!(t0.elapsed() < Duration::from_secs(4), "took {:?} (salloc's own exit included)", t0.elapsed());
    assert_no_process_left(&m, END_WITHIN);
    assert!(!Path::new(&format!("/proc/{victim}")).exists());
}
