//! rmpirun end to end: real processes as ranks (sh one-liners and the
//! `rank_helper` example, which speaks PMI through rmpi-pmi).
//!
//! Every test waits on conditions with deadlines and checks that no rank
//! process survives the job.
//!
//! `cargo test -p rmpirun` builds the example; with a target filter
//! (`--test launcher`) build it first: `cargo build -p rmpirun --examples`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const RMPIRUN: &str = env!("CARGO_BIN_EXE_rmpirun");

/// The `rank_helper` example (cargo builds examples for `cargo test`).
fn helper() -> String {
    let exe = std::env::current_exe().expect("test exe");
    let debug_dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let p: PathBuf = debug_dir.join("examples").join("rank_helper");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rank_helper.rs");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    assert!(
        p.exists() && modified(&p) >= modified(std::path::Path::new(src)),
        "{} missing or older than its source: run `cargo build -p rmpirun --examples`",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

struct Launched {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    start: Instant,
}

struct Finished {
    code: Option<i32>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    elapsed: Duration,
}

fn line_reader<R: Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        loop {
            let mut buf = Vec::new();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

impl Launched {
    fn start(args: &[&str], envs: &[(&str, &str)], stdin: Option<&[u8]>) -> Launched {
        let mut cmd = Command::new(RMPIRUN);
        cmd.args(args)
            .env_remove("MPIEXEC_TIMEOUT")
            .env_remove("PMI_FD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn rmpirun");
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let out = line_reader(child.stdout.take().expect("stdout"));
        let err = line_reader(child.stderr.take().expect("stderr"));
        Launched { child, out, err, stdout: Vec::new(), stderr: Vec::new(), start: Instant::now() }
    }

    /// Waits until `n` stdout lines contain `needle`; returns those lines.
    fn wait_for_stdout(&mut self, needle: &str, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let hits: Vec<String> = self.stdout.iter().filter(|l| l.contains(needle)).cloned().collect();
            if hits.len() >= n {
                return hits;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(l) => self.stdout.push(l),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("no {n} lines with {needle:?} in time; got {:?}", self.stdout)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stdout closed; got {:?}", self.stdout)
                }
            }
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, which has not been reaped.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    fn finish(mut self, within: Duration) -> Finished {
        let deadline = self.start + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("rmpirun did not finish within {within:?}; stdout {:?}", self.stdout);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = self.start.elapsed();
        // The pipes close when rmpirun exits: collect the rest.
        for l in self.out.iter() {
            self.stdout.push(l);
        }
        for l in self.err.iter() {
            self.stderr.push(l);
        }
        Finished { code: status.code(), stdout: self.stdout, stderr: self.stderr, elapsed }
    }
}

fn run(args: &[&str]) -> Finished {
    Launched::start(args, &[], None).finish(Duration::from_secs(30))
}

/// Pids printed by ranks as `pid=N`.
fn pids_in(lines: &[String]) -> Vec<i32> {
    lines.iter().filter_map(|l| l.split("pid=").nth(1)).filter_map(|p| p.trim().parse().ok()).collect()
}

/// Live processes in process group `pgid`, as (pid, state). Zombies are
/// dead: a killed grandchild stays one until its new parent (init or a
/// subreaper outside our control) reaps it.
fn group_members(pgid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a.to_string()) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        // state ppid pgrp ...
        let state = fields.first().copied().unwrap_or("?");
        if state != "Z" && fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            out.push((pid, state.to_string()));
        }
    }
    out
}

fn assert_gone(pids: &[i32]) {
    assert!(!pids.is_empty(), "no pids were reported");
    for &pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "rank process {pid} survived the job");
        // SIGKILL is delivered asynchronously: allow a moment for it.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let left = group_members(pid);
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "processes left in group {pid}: {left:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn stderr_text(f: &Finished) -> String {
    f.stderr.concat()
}

#[test]
fn all_ranks_exit_zero_gives_zero() {
    let f = run(&["-n", "3", "true"]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    assert!(f.stderr.is_empty(), "{:?}", f.stderr);
}

#[test]
fn more_ranks_than_cores_is_fine() {
    let f = run(&["-n", "24", "true"]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
}

#[test]
fn ranks_die_with_a_killed_launcher() {
    let mut l = Launched::start(&["-n", "3", "sh", "-c", "echo pid=$$; exec sleep 30"], &[], None);
    let pids = pids_in(&l.wait_for_stdout("pid=", 3, Duration::from_secs(10)));
    l.signal(libc::SIGKILL);
    let f = l.finish(Duration::from_secs(10));
    assert_eq!(f.code, None, "killed by a signal");
    // PR_SET_PDEATHSIG: the kernel kills the ranks (they become zombies of
    // init, which assert_gone ignores).
    let deadline = Instant::now() + Duration::from_secs(2);
    for pid in pids {
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(')').map(|(_, a)| a.trim_start().chars().next());
            if stat.is_empty() || state == Some(Some('Z')) {
                break;
            }
            assert!(Instant::now() < deadline, "rank {pid} survived rmpirun");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn second_sigint_kills_at_once() {
    let mut l = Launched::start(&["-n", "2", "sh", "-c", "trap '' TERM; echo pid=$$; exec sleep 30"], &[], None);
    let pids = pids_in(&l.wait_for_stdout("pid=", 2, Duration::from_secs(10)));
    l.signal(libc::SIGINT);
    l.signal(libc::SIGINT);
    let f = l.finish(Duration::from_secs(10));
    assert_eq!(f.code, Some(130));
    assert!(stderr_text(&f).starts_with("rmpirun: interrupted by SIGINT; ending the job\n"));
    assert_gone(&pids);
}

#[test]
fn non_pmi_program_runs_on_every_rank() {
    let f = run(&["-n", "2", "hostname"]);
    assert_eq!(f.code, Some(0));
    assert_eq!(f.stdout.len(), 2);
}

#[test]
fn ranks_get_pmi_environment() {
    let f = run(&[
        "-n",
        "3",
        "sh",
        "-c",
        "echo env $PMI_RANK $PMI_SIZE $RMPI_LOCAL_RANK $RMPI_LOCAL_SIZE ${#RMPI_JOB_SECRET} $PMI_JOBID; test -S /proc/self/fd/$PMI_FD || test -e /proc/self/fd/$PMI_FD",
    ]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    let mut ranks = BTreeSet::new();
    let mut jobids = BTreeSet::new();
    for l in &f.stdout {
        let w: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(w[0], "env");
        assert_eq!(w[1], w[3], "local rank = rank on one host");
        assert_eq!(w[2], "3");
        assert_eq!(w[4], "3");
        assert_eq!(w[5], "64", "secret is 32 bytes in hex");
        assert!(w[6].starts_with("rmpi-"), "{}", w[6]);
        ranks.insert(w[1].to_string());
        jobids.insert(w[6].to_string());
    }
    assert_eq!(ranks.len(), 3);
    assert_eq!(jobids.len(), 1);
}

#[test]
fn failing_rank_code_is_the_job_code_and_others_are_killed() {
    let f =
        run(&["-n", "3", "sh", "-c", "echo pid=$$; if [ $PMI_RANK = 1 ]; then sleep 0.2; exit 3; fi; exec sleep 30"]);
    assert_eq!(f.code, Some(3), "{:?}", f.stderr);
    assert!(f.elapsed < Duration::from_secs(5), "{:?}", f.elapsed);
    assert_eq!(stderr_text(&f), "rmpirun: rank 1 exited with code 3; ending the job\n");
    assert_gone(&pids_in(&f.stdout));
}

#[test]
fn killed_rank_ends_job_quickly_with_signal_message() {
    let mut l = Launched::start(&["-n", "4", "sh", "-c", "echo pid=$$; exec sleep 30"], &[], None);
    let lines = l.wait_for_stdout("pid=", 4, Duration::from_secs(10));
    let pids = pids_in(&lines);
    let victim = pids[2];
    let t0 = Instant::now();
    // SAFETY: sending SIGKILL to a rank process of our job.
    unsafe {
        libc::kill(victim, libc::SIGKILL);
    }
    let f = l.finish(Duration::from_secs(30));
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2), "job took {took:?} to end");
    assert_eq!(f.code, Some(137));
    let err = stderr_text(&f);
    assert!(err.contains(&format!("(pid {victim}) killed by signal 9 (SIGKILL); ending the job")), "{err}");
    assert_eq!(f.stderr.len(), 1, "one message: {err}");
    assert_gone(&pids);
}

#[test]
fn rank_ignoring_sigterm_is_killed_after_grace() {
    let f = run(&[
        "-n",
        "2",
        "sh",
        "-c",
        "trap '' TERM; echo pid=$$; if [ $PMI_RANK = 0 ]; then sleep 0.2; exit 5; fi; sleep 30; echo survived",
    ]);
    assert_eq!(f.code, Some(5));
    assert!(f.elapsed < Duration::from_secs(3), "{:?}", f.elapsed);
    assert!(!f.stdout.iter().any(|l| l.contains("survived")));
    assert_gone(&pids_in(&f.stdout));
}

#[test]
fn tag_output_prefixes_lines_all_spellings() {
    for flag in ["--tag-output", "-tag-output", "-l"] {
        let f = run(&[flag, "-np", "3", "sh", "-c", "echo hi; echo err >&2"]);
        assert_eq!(f.code, Some(0));
        let got: BTreeSet<String> = f.stdout.iter().cloned().collect();
        let want: BTreeSet<String> = (0..3).map(|r| format!("[{r}] hi\n")).collect();
        assert_eq!(got, want, "{flag}");
        let got: BTreeSet<String> = f.stderr.iter().cloned().collect();
        let want: BTreeSet<String> = (0..3).map(|r| format!("[{r}] err\n")).collect();
        assert_eq!(got, want, "{flag}");
    }
}

#[test]
fn final_partial_line_is_flushed() {
    let f = run(&["-n", "1", "printf", "no newline"]);
    assert_eq!(f.code, Some(0));
    assert_eq!(f.stdout, vec!["no newline".to_string()]);
    let f = run(&["-l", "-n", "1", "printf", "no newline"]);
    assert_eq!(f.stdout, vec!["[0] no newline\n".to_string()]);
}

#[test]
fn stdin_goes_to_rank_zero_only_and_eof_propagates() {
    let f = Launched::start(&["-l", "-n", "3", "cat"], &[], Some(b"hello\nworld\n")).finish(Duration::from_secs(30));
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    assert_eq!(f.stdout, vec!["[0] hello\n", "[0] world\n"]);
}

#[test]
fn genv_x_and_wdir_reach_ranks() {
    let dir = std::env::temp_dir().join(format!("rmpirun-wdir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let dir_s = dir.to_string_lossy().into_owned();
    let f = Launched::start(
        &[
            "-n",
            "2",
            "-genv",
            "G1",
            "one two",
            "-genv",
            "G2",
            "2",
            "-x",
            "X1=eins",
            "-x",
            "FROM_LAUNCHER",
            "-wdir",
            &dir_s,
            "sh",
            "-c",
            "echo \"$G1|$G2|$X1|$FROM_LAUNCHER|$(pwd)\"",
        ],
        &[("FROM_LAUNCHER", "inherited")],
        None,
    )
    .finish(Duration::from_secs(30));
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    let want = format!("one two|2|eins|inherited|{dir_s}\n");
    assert_eq!(f.stdout, vec![want.clone(), want]);
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn program_arguments_that_look_like_options_pass_through() {
    let f = run(&["-n", "1", "echo", "-n", "3", "-l", "--timeout"]);
    assert_eq!(f.code, Some(0));
    assert_eq!(f.stdout, vec!["3 -l --timeout".to_string()]);
}

#[test]
fn lines_stay_whole_with_many_ranks_writing_long_lines() {
    let h = helper();
    let (ranks, lines, len) = (8usize, 150usize, 9000usize);
    let f = run(&["-l", "-n", &ranks.to_string(), &h, "spew", &lines.to_string(), &len.to_string()]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    assert_eq!(f.stdout.len(), ranks * lines);
    let mut next = vec![0usize; ranks];
    for l in &f.stdout {
        let (tag, rest) = l.split_once("] ").expect("tag");
        let rank: usize = tag.trim_start_matches('[').parse().expect("rank");
        let letter = (b'a' + (rank % 26) as u8) as char;
        let (body, num) = rest.trim_end_matches('\n').rsplit_once(' ').expect("number");
        assert_eq!(body.len(), len, "line length of rank {rank}");
        assert!(body.chars().all(|c| c == letter), "mixed line from rank {rank}");
        assert_eq!(num.parse::<usize>().unwrap(), next[rank], "order within rank {rank}");
        next[rank] += 1;
    }
}

fn interrupt(sig: i32, want_code: i32, name: &str) {
    let mut l = Launched::start(&["-n", "3", "sh", "-c", "echo pid=$$; exec sleep 30"], &[], None);
    let pids = pids_in(&l.wait_for_stdout("pid=", 3, Duration::from_secs(10)));
    let t0 = Instant::now();
    l.signal(sig);
    let f = l.finish(Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(f.code, Some(want_code));
    assert_eq!(stderr_text(&f), format!("rmpirun: interrupted by {name}; ending the job\n"));
    assert_gone(&pids);
}

#[test]
fn sigint_ends_job_with_130() {
    interrupt(libc::SIGINT, 130, "SIGINT");
}

#[test]
fn sigterm_ends_job_with_143() {
    interrupt(libc::SIGTERM, 143, "SIGTERM");
}

#[test]
fn timeout_ends_job_with_124() {
    let f = run(&["--timeout", "1", "-n", "2", "sh", "-c", "echo pid=$$; exec sleep 30"]);
    assert_eq!(f.code, Some(124));
    assert!(f.elapsed < Duration::from_secs(4), "{:?}", f.elapsed);
    assert!(stderr_text(&f).contains("rmpirun: job timed out after 1 s"));
    assert_gone(&pids_in(&f.stdout));

    let f = Launched::start(&["-n", "1", "sh", "-c", "echo pid=$$; exec sleep 30"], &[("MPIEXEC_TIMEOUT", "1")], None)
        .finish(Duration::from_secs(30));
    assert_eq!(f.code, Some(124));
    assert_gone(&pids_in(&f.stdout));
}

#[test]
fn missing_program_exits_127() {
    let f = run(&["-n", "2", "./definitely-not-here"]);
    assert_eq!(f.code, Some(127));
    assert!(stderr_text(&f).contains("cannot start rank 0 (./definitely-not-here)"));
}

fn pmi_exchange(version: &str) {
    let h = helper();
    let f = run(&["-n", "5", "-genv", "RMPI_PMI_VERSION", version, &h, "exchange"]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    let mut ok: Vec<String> = f.stdout.clone();
    ok.sort();
    let want: Vec<String> = (0..5).map(|r| format!("rank {r} of 5 ok (V{version})\n")).collect();
    assert_eq!(ok, want);
}

#[test]
fn pmi2_fence_exchange_through_launcher() {
    pmi_exchange("2");
}

#[test]
fn pmi1_fence_exchange_through_launcher() {
    pmi_exchange("1");
}

#[test]
fn mpi_abort_ends_job_with_its_code() {
    let h = helper();
    for version in ["1", "2"] {
        let t0 = Instant::now();
        let f = run(&["-n", "3", "-genv", "RMPI_PMI_VERSION", version, &h, "abort", "1", "7", "out of cheese"]);
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        assert_eq!(f.code, Some(7));
        let err = stderr_text(&f);
        let want = if version == "2" {
            "rmpirun: rank 1 called MPI_Abort (code 7): out of cheese\n"
        } else {
            // PMI-1 abort carries no message.
            "rmpirun: rank 1 called MPI_Abort (code 7); ending the job\n"
        };
        assert_eq!(err, want);
    }
}

#[test]
fn exit_zero_without_finalize_is_an_error() {
    let h = helper();
    let f = run(&["-n", "2", &h, "no-finalize"]);
    assert_eq!(f.code, Some(1));
    assert!(
        stderr_text(&f).contains("exited with code 0 after MPI_Init without calling MPI_Finalize"),
        "{}",
        stderr_text(&f)
    );
}

#[test]
fn exit_code_after_finalize_is_reported() {
    let h = helper();
    let f = run(&["-n", "2", &h, "finalize-exit", "0"]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    let f = run(&["-n", "1", &h, "finalize-exit", "4"]);
    assert_eq!(f.code, Some(4));
    assert_eq!(stderr_text(&f), "rmpirun: rank 0 exited with code 4; ending the job\n");
}

#[test]
fn exit_before_finalize_is_named() {
    let h = helper();
    let f = run(&["-n", "1", &h, "init-exit", "3"]);
    assert_eq!(f.code, Some(3));
    assert_eq!(stderr_text(&f), "rmpirun: rank 0 exited with code 3 before MPI_Finalize; ending the job\n");
}

#[test]
fn exit_code_of_non_pmi_rank_is_named_without_finalize_hint() {
    let f = run(&["-n", "1", "sh", "-c", "exec 3<>/dev/null; exit 3"]);
    assert_eq!(f.code, Some(3));
    // Without PMI the rank is not an MPI process: no "before MPI_Finalize".
    assert_eq!(stderr_text(&f), "rmpirun: rank 0 exited with code 3; ending the job\n");
}

#[test]
fn shm_leftovers_of_the_job_are_removed() {
    let f = run(&["-n", "2", "sh", "-c", "touch /dev/shm/rmpi-$PMI_JOBID-$PMI_RANK && echo job=$PMI_JOBID"]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    let job = f.stdout[0].trim().trim_start_matches("job=").to_string();
    for r in 0..2 {
        let p = format!("/dev/shm/rmpi-{job}-{r}");
        assert!(!std::path::Path::new(&p).exists(), "{p} left behind");
    }
}

/// MPICH's own PMI-1 client (the `mpich` 5.0.2 wheel under mpi4py) against
/// our server. Needs a venv with `mpich` and `mpi4py`; run with
/// `RMPI_TEST_MPICH_PYTHON=/path/venv/bin/python cargo test -p rmpirun -- --ignored`.
#[test]
#[ignore = "needs RMPI_TEST_MPICH_PYTHON (a venv with the mpich and mpi4py wheels)"]
fn mpich_wheel_runs_under_rmpirun() {
    let py = std::env::var("RMPI_TEST_MPICH_PYTHON").expect("RMPI_TEST_MPICH_PYTHON");
    let f = run(&["-n", "3", &py, "-m", "mpi4py.bench", "helloworld"]);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    let mut lines = f.stdout.clone();
    lines.sort();
    assert_eq!(lines.len(), 3);
    for (r, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("Hello, World! I am process {r} of 3")), "{l}");
    }
    let f = run(&[
        "-n",
        "3",
        &py,
        "-c",
        "from mpi4py import MPI\nimport time\nc = MPI.COMM_WORLD\nif c.rank == 1: c.Abort(5)\ntime.sleep(30)",
    ]);
    assert_eq!(f.code, Some(5));
    assert!(stderr_text(&f).contains("rmpirun: rank 1 called MPI_Abort (code 5)"));
}

#[test]
fn many_ranks_under_a_low_fd_limit_and_ranks_keep_that_limit() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("ulimit -Sn 128 && exec {RMPIRUN} -n 100 sh -c 'ulimit -n'")]);
    let out = cmd.output().expect("sh");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 100);
    assert!(text.lines().all(|l| l == "128"), "{text}");
}

/// CPUs in a `Cpus_allowed_list` style list (`0-3,8`).
fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().expect("cpu")..=b.parse::<usize>().expect("cpu")),
            None => out.push(part.parse().expect("cpu")),
        }
    }
    out
}

/// This process's `Cpus_allowed_list`.
fn my_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).expect("Cpus_allowed_list");
    parse_cpu_list(line)
}

/// Each rank's (rank, CPUs, RMPI_NODE_CPUS) under `args`.
fn rank_cpus(args: &[&str]) -> (Vec<(usize, Vec<usize>, usize)>, Finished) {
    let script =
        "echo cpus $PMI_RANK ${RMPI_NODE_CPUS:-0} $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)";
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["sh", "-c", script]);
    let f = run(&all);
    assert_eq!(f.code, Some(0), "{:?}", f.stderr);
    let mut v: Vec<(usize, Vec<usize>, usize)> = f
        .stdout
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"cpus"))
                .then(|| (w[1].parse().expect("rank"), parse_cpu_list(w[3]), w[2].parse().expect("n")))
        })
        .collect();
    v.sort();
    (v, f)
}

#[test]
fn bind_to_hwthread_gives_each_rank_one_cpu_round_robin() {
    let cpus = my_cpus();
    let n = cpus.len() + 1;
    let (ranks, f) = rank_cpus(&["-n", &n.to_string(), "--bind-to", "hwthread", "--report-bindings"]);
    assert_eq!(ranks.len(), n);
    for (r, got, node_cpus) in &ranks {
        assert_eq!(got, &vec![cpus[r % cpus.len()]], "rank {r}");
        // The ranks count the host's CPUs, not their own one.
        assert_eq!(*node_cpus, cpus.len());
    }
    let reports = f.stderr.iter().filter(|l| l.contains("bound to CPUs")).count();
    assert_eq!(reports, n, "{:?}", f.stderr);
}

#[test]
fn bind_to_core_keeps_ranks_inside_the_launchers_cpus() {
    let cpus = my_cpus();
    let (ranks, _) = rank_cpus(&["-n", "3", "-bind-to", "core"]);
    assert_eq!(ranks.len(), 3);
    for (r, got, _) in &ranks {
        assert!(!got.is_empty() && got.iter().all(|c| cpus.contains(c)), "rank {r}: {got:?} not within {cpus:?}");
        if cpus.len() > 1 {
            assert!(got.len() < cpus.len(), "rank {r} was not bound: {got:?}");
        }
    }
}

#[test]
fn bind_to_none_and_a_job_smaller_than_the_host_stay_unbound() {
    let cpus = my_cpus();
    let (ranks, f) = rank_cpus(&["-n", "2", "--bind-to", "none", "--report-bindings"]);
    assert!(ranks.iter().all(|(_, got, node_cpus)| got == &cpus && *node_cpus == 0), "{ranks:?}");
    assert_eq!(f.stderr.iter().filter(|l| l.contains("not bound")).count(), 2, "{:?}", f.stderr);
    if cpus.len() > 1 {
        // The default binds only a job that fills the host's cores.
        let (ranks, _) = rank_cpus(&["-n", "1"]);
        assert_eq!(ranks[0].1, cpus);
    }
}

#[test]
fn unknown_bind_policy_is_refused() {
    let f = run(&["-n", "1", "--bind-to", "socket", "true"]);
    assert_ne!(f.code, Some(0));
    assert!(stderr_text(&f).contains("--bind-to"), "{:?}", f.stderr);
}
