//! rmpi under a real Slurm (issue 5): direct launch with `srun --mpi=pmi2`,
//! no rmpirun anywhere.
//!
//! `tests/slurm/cluster.sh` stands up one cluster for the whole binary: three
//! nodes n1..n3, each a slurmd in its own network, UTS, mount (/dev/shm),
//! IPC and pid namespace, joined only by a private bridge (TCP). It is torn
//! down at the end whatever happened (and, should this process die, by the
//! script's watcher). The tests run one after another on it:
//!
//! * one node (`-N 1 -n 4`): the Rust examples hello, bcast, psum; a C
//!   program built with `rmpicc`; `mpi4py.bench helloworld` with the stock
//!   mpi4py wheel on rmpi's `libmpi.so.12`;
//! * three nodes (`-N 3 -n 6 --ntasks-per-node=2`): hello names three hosts,
//!   bcast, psum, the C program, a p2p stress whose messages cross nodes,
//!   transport counters showing TCP between nodes and shared memory within
//!   one, the same over PMI-1 (`RMPI_PMI_VERSION=1`), cyclic placement,
//!   PMI values over Slurm's 1024-byte limit (`pmi_kvs_check`, split into
//!   segments), and no file left in any node's /dev/shm;
//! * an `sbatch` script in the shape users write (`srun python bcast.py`),
//!   whose output file is checked;
//! * `srun --mpi=none` of a multi-task step fails with the message to use
//!   `--mpi=pmi2` (Rust and C);
//! * MPI_Abort ends the step; so does a rank exiting early under `srun -K`.
//!
//! The binary has its own `main` (harness = false) so the cluster is set up
//! once and torn down after the last test. Arguments: substrings selecting
//! tests (like libtest's filter), `--list`. Applicability: it needs root,
//! namespaces and Debian's Slurm packages (installed by cluster.sh if
//! missing); without them every test is reported skipped, with the reason.

mod common;
use common::*;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What the tests share: the cluster and the paths they run.
struct Ctx {
    dir: PathBuf,
    work: PathBuf,
}

impl Ctx {
    /// `srun ARGS...` against the test cluster.
    fn srun(&self, args: &[&str]) -> Job {
        let mut job = Job::direct(PathBuf::from("srun"));
        for k in outer_launch_vars() {
            job = job.env_remove(&k);
        }
        job.args(args)
            .env("SLURM_CONF", &self.dir.join("slurm.conf").display().to_string())
            .timeout(Duration::from_secs(120))
    }

    /// `srun --mpi=pmi2 -N 3 -n 6 --ntasks-per-node=2 ARGS...`
    fn srun3(&self, args: &[&str]) -> Job {
        let mut all = vec!["--mpi=pmi2", "-N", "3", "-n", "6", "--ntasks-per-node=2"];
        all.extend_from_slice(args);
        self.srun(&all)
    }

    /// `srun --mpi=pmi2 -N 1 -n 4 -w n1 ARGS...`
    fn srun1(&self, args: &[&str]) -> Job {
        let mut all = vec!["--mpi=pmi2", "-N", "1", "-n", "4", "-w", "n1"];
        all.extend_from_slice(args);
        self.srun(&all)
    }
}

/// Variables of a Slurm job or MPI launcher the tests may run inside (CI on
/// a cluster): srun and the ranks must not see them.
fn outer_launch_vars() -> Vec<String> {
    const PREFIXES: &[&str] = &["SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "PMI_", "PMIX_", "RMPI_"];
    std::env::vars().map(|(k, _)| k).filter(|k| PREFIXES.iter().any(|p| k.starts_with(p))).collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prefix() -> PathBuf {
    root().join("build/prefix")
}

fn ex(name: &str) -> String {
    example(name).display().to_string()
}

/// `LD_LIBRARY_PATH` with rmpi's staged lib first.
fn ld_library_path() -> String {
    let lib = prefix().join("lib");
    match std::env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    }
}

/// Every rank `0..n` printed exactly one line equal to `line(rank)`.
fn expect_every_rank(out: &JobOutput, n: usize, line: impl Fn(usize) -> String) {
    out.assert_ok();
    let mut want: Vec<String> = (0..n).map(line).collect();
    want.sort();
    let got: Vec<String> = out.sorted_lines();
    assert_eq!(got, want, "\n--- stderr\n{}", out.stderr);
}

/// Block placement of `-N 3 -n 6 --ntasks-per-node=2`.
fn node_of(rank: usize) -> usize {
    rank / 2 + 1
}

// ---- one node ----

fn one_node_rust_examples(c: &Ctx) {
    let out = c.srun1(&[&ex("hello")]).run();
    expect_every_rank(&out, 4, |r| format!("Hello, World! I am process {r} of 4 on n1."));
    let out = c.srun1(&[&ex("bcast")]).run();
    expect_every_rank(&out, 4, |r| format!("rank {r}: bcast ok"));
    let out = c.srun1(&[&ex("psum")]).run();
    expect_every_rank(&out, 4, |r| format!("rank {r}: sum = 120"));
}

/// Build tests/slurm/hello.c with the staged `rmpicc` (once).
fn c_hello(c: &Ctx) -> String {
    let exe = c.work.join("hello-c");
    if !exe.exists() {
        let rmpicc = prefix().join("bin/rmpicc");
        assert!(rmpicc.exists(), "{} is missing: run `make stage` (make test does)", rmpicc.display());
        let out = Command::new(&rmpicc)
            .arg(root().join("tests/slurm/hello.c"))
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("run rmpicc");
        assert!(out.status.success(), "rmpicc failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    exe.display().to_string()
}

fn one_node_c_program(c: &Ctx) {
    let exe = c_hello(c);
    let out = c.srun1(&[&exe]).env("LD_LIBRARY_PATH", &ld_library_path()).run();
    expect_every_rank(&out, 4, |r| format!("c rank {r} of 4 on n1 sum 6"));
}

/// The venv with the stock mpi4py wheel (made by tests/python/venv.sh).
fn venv_python() -> String {
    static VENV: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let made = VENV.get_or_init(|| {
        let out = Job::direct(root().join("tests/python/venv.sh"))
            .env("RMPI_VENV_SKIP_MPICH", "1")
            .timeout(Duration::from_secs(900))
            .run();
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("tests/python/venv.sh failed ({:?}):\n{}\n{}", out.status, out.stdout, out.stderr))
        }
    });
    if let Err(e) = made {
        panic!("{e}");
    }
    root().join("build/venv-mpi4py/bin/python").display().to_string()
}

fn one_node_mpi4py_helloworld(c: &Ctx) {
    let py = venv_python();
    let out = c.srun1(&[&py, "-m", "mpi4py.bench", "helloworld"]).env("LD_LIBRARY_PATH", &ld_library_path()).run();
    expect_every_rank(&out, 4, |r| format!("Hello, World! I am process {r} of 4 on n1."));
}

// ---- three nodes ----

fn three_nodes_hello_names_three_hosts(c: &Ctx) {
    let out = c.srun3(&[&ex("hello")]).run();
    expect_every_rank(&out, 6, |r| format!("Hello, World! I am process {r} of 6 on n{}.", node_of(r)));
}

fn three_nodes_bcast_and_psum(c: &Ctx) {
    let out = c.srun3(&[&ex("bcast")]).run();
    expect_every_rank(&out, 6, |r| format!("rank {r}: bcast ok"));
    let out = c.srun3(&[&ex("psum")]).run();
    expect_every_rank(&out, 6, |r| format!("rank {r}: sum = 120"));
}

/// Cyclic placement (rank r on node r mod 3): the process mapping Slurm
/// hands out is followed, so ranks 0 and 3 share n1 (shared memory) and
/// every ring neighbour is on another node (TCP).
fn three_nodes_cyclic_placement(c: &Ctx) {
    let out = c.srun3(&["-m", "cyclic", &ex("hello")]).run();
    expect_every_rank(&out, 6, |r| format!("Hello, World! I am process {r} of 6 on n{}.", r % 3 + 1));
    let out = c.srun3(&["-m", "cyclic", &ex("counters")]).run();
    out.assert_ok();
    for r in 0..6 {
        assert!(
            counter(&out, r, "tcp", "bytes_sent") >= 4096,
            "rank {r} sends to the next node by TCP:\n{}",
            out.stdout
        );
        // Shared memory carries at most the node-aware collectives' small
        // packets (barrier, finalize), never the 4 KiB ring payload.
        assert!(counter(&out, r, "shm", "bytes_sent") < 4096, "rank {r} has no local ring neighbour:\n{}", out.stdout);
    }
    let out = c.srun3(&["-m", "cyclic", &ex("bcast")]).run();
    expect_every_rank(&out, 6, |r| format!("rank {r}: bcast ok"));
}

fn three_nodes_c_program(c: &Ctx) {
    let exe = c_hello(c);
    let out = c.srun3(&[&exe]).env("LD_LIBRARY_PATH", &ld_library_path()).run();
    expect_every_rank(&out, 6, |r| format!("c rank {r} of 6 on n{} sum 15", node_of(r)));
}

fn three_nodes_p2p_stress(c: &Ctx) {
    let out = c
        .srun3(&[&ex("stress"), "--messages", "30000", "--max-size", "1048576", "--seed", "5"])
        .timeout(Duration::from_secs(300))
        .run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.starts_with("stress ok")).count();
    assert_eq!(ok, 6, "every rank reports success:\n{}", out.stdout);
}

/// Parse `rank R: NAME packets_sent=.. bytes_sent=.. ...` from the counters example.
fn counter(out: &JobOutput, rank: usize, transport: &str, field: &str) -> u64 {
    let prefix = format!("rank {rank}: {transport} ");
    let line = out.stdout.lines().find(|l| l.starts_with(&prefix));
    let Some(line) = line else { return 0 };
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {line:?}"))
}

/// Each rank sends 4 KiB to rank+1: ranks 0, 2, 4 to a peer on their own
/// node, ranks 1, 3, 5 to the next node. Only TCP may carry the latter,
/// only shared memory the former.
fn counters_show_tcp_between_nodes(out: &JobOutput) {
    out.assert_ok();
    for r in 0..6 {
        let (shm, tcp) = (counter(out, r, "shm", "bytes_sent"), counter(out, r, "tcp", "bytes_sent"));
        if r % 2 == 0 {
            assert!(
                shm >= 4096,
                "rank {r} sent its 4 KiB to rank {} on n{} by shm:\n{}",
                r + 1,
                node_of(r),
                out.stdout
            );
            assert!(tcp < 4096, "rank {r} sent no payload by TCP:\n{}", out.stdout);
        } else {
            assert!(tcp >= 4096, "rank {r} on n{} sent its 4 KiB to the next node by TCP:\n{}", node_of(r), out.stdout);
            assert!(shm < 4096, "rank {r} sent no payload by shm:\n{}", out.stdout);
        }
        let got_tcp = counter(out, r, "tcp", "bytes_received");
        if r % 2 == 0 {
            assert!(got_tcp >= 4096, "rank {r} received its 4 KiB from the previous node by TCP:\n{}", out.stdout);
        }
    }
}

fn three_nodes_counters_tcp_between_nodes(c: &Ctx) {
    counters_show_tcp_between_nodes(&c.srun3(&[&ex("counters")]).run());
}

fn three_nodes_pmi1(c: &Ctx) {
    let out = c.srun3(&[&ex("psum")]).env("RMPI_PMI_VERSION", "1").run();
    expect_every_rank(&out, 6, |r| format!("rank {r}: sum = 120"));
    counters_show_tcp_between_nodes(&c.srun3(&[&ex("counters")]).env("RMPI_PMI_VERSION", "1").run());
}

/// Values over Slurm's 1024-byte limit go through in segments, with both
/// wire versions, 8 ranks of a node putting before each fence.
fn three_nodes_long_pmi_values(c: &Ctx) {
    let probe = profile_dir().join("examples/pmi_kvs_check");
    assert!(probe.exists(), "{} is missing: build the examples first (make)", probe.display());
    let probe = probe.display().to_string();
    for v in ["2", "1"] {
        let out = c
            .srun(&["--mpi=pmi2", "-N", "3", "-n", "24", "--ntasks-per-node=8", &probe])
            .env("RMPI_PMI_VERSION", v)
            .run();
        expect_every_rank(&out, 24, |r| format!("kvs ok: rank {r} of 24 (PMI-{v}, mapping (vector,(0,3,8)))"));
    }
}

/// Nothing of rmpi is left in any node's /dev/shm (each node has its own).
fn three_nodes_leave_no_shm_files(c: &Ctx) {
    c.srun3(&[&ex("bcast")]).run().assert_ok();
    for node in ["n1", "n2", "n3"] {
        let out = Job::direct(c.dir.join("agent")).args([node, "ls -A /dev/shm"]).run();
        out.assert_ok();
        let left: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("rmpi-")).collect();
        assert!(left.is_empty(), "{node}: left in /dev/shm: {left:?}");
    }
}

// ---- sbatch ----

fn sbatch_script_with_srun_python(c: &Ctx) {
    let py = PathBuf::from(venv_python());
    let job_dir = c.work.join("sbatch");
    std::fs::create_dir_all(&job_dir).expect("make the job directory");
    std::fs::copy(root().join("tests/slurm/bcast.sbatch"), job_dir.join("bcast.sbatch")).expect("copy the script");
    std::fs::copy(root().join("tests/python/bcast_arange.py"), job_dir.join("bcast.py")).expect("copy bcast.py");
    // What `module load rmpi` plus an activated venv would give the user.
    let path = format!(
        "{}:{}",
        py.parent().expect("venv bin").display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    let mut cmd = Command::new("sbatch");
    for k in outer_launch_vars() {
        cmd.env_remove(k);
    }
    cmd.args(["--parsable", "--wait", "bcast.sbatch"])
        .current_dir(&job_dir)
        .env("SLURM_CONF", c.dir.join("slurm.conf"))
        .env("PATH", path)
        .env("LD_LIBRARY_PATH", ld_library_path())
        .env("SLURM_MPI_TYPE", "pmi2")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run_with_deadline(cmd, Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let jobid = stdout.lines().next().unwrap_or("").split(';').next().unwrap_or("").trim().to_string();
    let file = job_dir.join(format!("slurm-{jobid}.out"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!("no output file {} ({e}); sbatch said {stdout}{}", file.display(), String::from_utf8_lossy(&out.stderr))
    });
    assert!(out.status.success(), "sbatch --wait failed ({:?}); {}:\n{text}", out.status, file.display());
    let mut got: Vec<&str> = text.lines().filter(|l| l.contains("bcast ok")).collect();
    got.sort();
    let want: Vec<String> = (0..4).map(|r| format!("rank {r} of 4: bcast ok (100 elements, 400 bytes)")).collect();
    assert_eq!(got, want, "{}:\n{text}", file.display());
}

/// Run a command that must end within `deadline` (killed otherwise).
fn run_with_deadline(mut cmd: Command, deadline: Duration) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).process_group(0);
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            // SAFETY: signalling the process group of our own child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            panic!("{cmd:?} did not end within {deadline:?}");
        }
    }
}

// ---- misconfiguration ----

fn srun_without_pmi_names_the_fix(c: &Ctx) {
    let exe = c_hello(c);
    for (what, prog) in [("Rust", ex("hello")), ("C", exe)] {
        let out =
            c.srun(&["--mpi=none", "-w", "n1", "-n", "2", &prog]).env("LD_LIBRARY_PATH", &ld_library_path()).run();
        assert!(!out.status.success(), "{what}: a 2-task step without PMI must fail:\n{}", out.stdout);
        assert!(
            out.stderr.contains("srun --mpi=pmi2") && out.stderr.contains("one of 2 tasks"),
            "{what}: the message names the fix:\n{}",
            out.stderr
        );
        assert!(!out.stdout.contains("of 1"), "{what}: no rank ran as a singleton:\n{}", out.stdout);
    }
    // One task without PMI is an ordinary singleton.
    let out = c.srun(&["--mpi=none", "-w", "n1", "-n", "1", &ex("hello")]).run();
    expect_every_rank(&out, 1, |_| "Hello, World! I am process 0 of 1 on n1.".to_string());
}

// ---- failure ----

/// MPI_Abort on one rank reaches Slurm (PMI abort): the whole step is killed
/// at once and srun fails.
fn abort_ends_the_step(c: &Ctx) {
    let start = Instant::now();
    let out = c.srun3(&[&ex("abort"), "--rank", "3", "--code", "5"]).timeout(Duration::from_secs(60)).run();
    assert!(!out.status.success(), "srun must fail:\n{}", out.stderr);
    assert!(out.stderr.contains("rank 3: MPI_Abort called with code 5"), "the rank says why:\n{}", out.stderr);
    assert!(start.elapsed() < Duration::from_secs(20), "the step ended late: {:?}", start.elapsed());
}

/// A rank that exits without MPI_Finalize while the others wait for it: with
/// `srun -K` (--kill-on-bad-exit) Slurm ends the step. (Without -K Slurm
/// leaves the other tasks running, for rmpi as for any MPI.)
fn early_exit_with_kill_on_bad_exit_ends_the_step(c: &Ctx) {
    let start = Instant::now();
    let out = c.srun3(&["-K", &ex("exit_early"), "--rank", "3"]).timeout(Duration::from_secs(60)).run();
    assert!(!out.status.success(), "srun must fail:\n{}", out.stderr);
    assert!(out.stderr.contains("task 3: Exited with exit code 3"), "srun names the task:\n{}", out.stderr);
    assert!(start.elapsed() < Duration::from_secs(20), "the step ended late: {:?}", start.elapsed());
}

// ---- the runner ----

type TestFn = fn(&Ctx);

const TESTS: &[(&str, TestFn)] = &[
    ("one_node_rust_examples", one_node_rust_examples),
    ("one_node_c_program", one_node_c_program),
    ("one_node_mpi4py_helloworld", one_node_mpi4py_helloworld),
    ("three_nodes_hello_names_three_hosts", three_nodes_hello_names_three_hosts),
    ("three_nodes_bcast_and_psum", three_nodes_bcast_and_psum),
    ("three_nodes_c_program", three_nodes_c_program),
    ("three_nodes_p2p_stress", three_nodes_p2p_stress),
    ("three_nodes_counters_tcp_between_nodes", three_nodes_counters_tcp_between_nodes),
    ("three_nodes_pmi1", three_nodes_pmi1),
    ("three_nodes_cyclic_placement", three_nodes_cyclic_placement),
    ("three_nodes_long_pmi_values", three_nodes_long_pmi_values),
    ("three_nodes_leave_no_shm_files", three_nodes_leave_no_shm_files),
    ("sbatch_script_with_srun_python", sbatch_script_with_srun_python),
    ("srun_without_pmi_names_the_fix", srun_without_pmi_names_the_fix),
    ("abort_ends_the_step", abort_ends_the_step),
    ("early_exit_with_kill_on_bad_exit_ends_the_step", early_exit_with_kill_on_bad_exit_ends_the_step),
];

/// The cluster for this run; `down` on drop.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    /// `Err(reason)` when a cluster cannot run here (skip), panic on other failures.
    fn up(dir: &Path) -> Result<Cluster, String> {
        let script = root().join("tests/slurm/cluster.sh");
        let mut cmd = Command::new(&script);
        cmd.args(["up", "--nodes", "3", "--owner", &std::process::id().to_string()]).arg(dir);
        let out = run_with_deadline(cmd, Duration::from_secs(600));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => Ok(Cluster { dir: dir.to_path_buf() }),
            Some(3) => Err(stderr.trim().to_string()),
            _ => panic!("cluster.sh up failed ({:?}):\n{stderr}", out.status),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = Command::new(root().join("tests/slurm/cluster.sh"));
        cmd.arg("down").arg(&self.dir);
        let out = run_with_deadline(cmd, Duration::from_secs(120));
        if !out.status.success() {
            eprintln!("cluster.sh down failed ({:?}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return;
    }
    // libtest's value-taking options, whose values are not filters.
    let with_value = ["--test-threads", "--skip", "--format", "--color", "-Z", "--logfile", "--report-time"];
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--skip" {
            skips.extend(it.next().cloned());
        } else if with_value.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            filters.push(a.clone());
        }
    }
    let exact = args.iter().any(|a| a == "--exact");
    let selected: Vec<&(&str, TestFn)> = TESTS
        .iter()
        .filter(|(n, _)| {
            filters.is_empty() || filters.iter().any(|f| if exact { n == f } else { n.contains(f.as_str()) })
        })
        .filter(|(n, _)| !skips.iter().any(|s| n.contains(s.as_str())))
        .collect();
    // No test here is ignored: `--ignored` selects none.
    if selected.is_empty() || args.iter().any(|a| a == "--ignored") {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored\n");
        return;
    }
    println!("\nrunning {} tests (one Slurm cluster of 3 namespace nodes)", selected.len());

    // SAFETY: geteuid has no preconditions.
    let skip_reason = if unsafe { libc::geteuid() } != 0 {
        Some("not root (Slurm's daemons and network namespaces need root)".to_string())
    } else {
        None
    };
    let work = std::env::temp_dir().join(format!("rmpi-slurm-test-{}", std::process::id()));
    let cluster = match skip_reason {
        Some(r) => Err(r),
        None => {
            let start = Instant::now();
            let c = Cluster::up(&work.join("cluster"));
            if c.is_ok() {
                println!("cluster up in {:.1} s ({})", start.elapsed().as_secs_f64(), work.join("cluster").display());
            }
            c
        }
    };
    let cluster = match cluster {
        Ok(c) => c,
        Err(reason) => {
            for (name, _) in &selected {
                println!("test {name} ... skipped: {reason}");
            }
            println!("\ntest result: ok. 0 passed; 0 failed; {} skipped ({reason})\n", selected.len());
            return;
        }
    };
    let ctx = Ctx { dir: cluster.dir.clone(), work: work.clone() };
    let mut failed = Vec::new();
    for (name, f) in &selected {
        let start = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| f(&ctx)));
        let secs = start.elapsed().as_secs_f64();
        match r {
            Ok(()) => println!("test {name} ... ok ({secs:.1} s)"),
            Err(_) => {
                println!("test {name} ... FAILED ({secs:.1} s)");
                failed.push(*name);
            }
        }
    }
    drop(cluster);
    if failed.is_empty() {
        let _ = std::fs::remove_dir_all(&work);
        println!("\ntest result: ok. {} passed; 0 failed\n", selected.len());
    } else {
        println!("\nfailures: {failed:?} (cluster logs kept in {})", work.join("cluster/log").display());
        println!("\ntest result: FAILED. {} passed; {} failed\n", selected.len() - failed.len(), failed.len());
        std::process::exit(101);
    }
}
