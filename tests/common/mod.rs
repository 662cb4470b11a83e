//! Helpers for tests that run real jobs under `rmpirun`.
//!
//! Binaries are taken from the cargo profile directory the test itself was
//! built in (`target/<profile>/rmpirun`, `target/<profile>/examples/NAME`).
//! Every job runs with a deadline; a job still running then is killed (its
//! whole process group) and the test fails with what it printed.
#![allow(dead_code)]

use std::io::{BufRead, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>` of this test executable.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    exe.parent().and_then(|p| p.parent()).expect("profile dir").to_path_buf()
}

/// Path of the launcher.
pub fn rmpirun() -> PathBuf {
    let p = profile_dir().join("rmpirun");
    assert!(p.exists(), "{} is missing: build the workspace first (make)", p.display());
    p
}

/// Path of a cargo example of the root crate.
pub fn example(name: &str) -> PathBuf {
    let p = profile_dir().join("examples").join(name);
    assert!(p.exists(), "{} is missing: build the examples first (make)", p.display());
    p
}

/// What a finished job left behind.
#[derive(Debug)]
pub struct JobOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl JobOutput {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    /// Panic with the job's output unless it exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.status.success(),
            "job failed ({:?})\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
    /// Lines of stdout, sorted (rank output interleaves in any order).
    pub fn sorted_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self.stdout.lines().map(str::to_string).collect();
        v.sort();
        v
    }
}

/// A job to run under rmpirun.
pub struct Job {
    cmd: Command,
    timeout: Duration,
    marker: Option<String>,
}

impl Job {
    /// `rmpirun -n N <example> args...`
    pub fn new(n: usize, example_name: &str) -> Job {
        let mut cmd = Command::new(rmpirun());
        cmd.arg("-n").arg(n.to_string()).arg(example(example_name));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // A new process group, so a stuck job can be killed whole.
        cmd.process_group(0);
        Job { cmd, timeout: Duration::from_secs(120), marker: None }
    }

    /// `rmpirun <launcher args> -n N <example> args...`
    pub fn with_launcher_args(n: usize, example_name: &str, launcher_args: &[&str]) -> Job {
        let mut cmd = Command::new(rmpirun());
        cmd.args(launcher_args).arg("-n").arg(n.to_string()).arg(example(example_name));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.process_group(0);
        Job { cmd, timeout: Duration::from_secs(120), marker: None }
    }

    /// A command run directly (no launcher).
    pub fn direct(program: PathBuf) -> Job {
        let mut cmd = Command::new(program);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.process_group(0);
        Job { cmd, timeout: Duration::from_secs(60), marker: None }
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, a: I) -> Job {
        self.cmd.args(a);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Job {
        self.cmd.env(k, v);
        self
    }

    /// Do not pass `k` on from the test's environment.
    pub fn env_remove(mut self, k: &str) -> Job {
        self.cmd.env_remove(k);
        self
    }

    /// Tag every process of the job with `RMPITEST_MARKER=<marker>`.
    pub fn marked(mut self, marker: &str) -> Job {
        self.marker = Some(marker.to_string());
        self.env("RMPITEST_MARKER", marker)
    }

    /// Run every rank over TCP only.
    pub fn tcp(self) -> Job {
        self.env("RMPI_TRANSPORT", "tcp")
    }

    pub fn timeout(mut self, t: Duration) -> Job {
        self.timeout = t;
        self
    }

    /// Start without waiting.
    pub fn spawn(mut self) -> RunningJob {
        let mut child = self.cmd.spawn().expect("spawn job");
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let t_out = std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            let mut err = err;
            let _ = err.read_to_string(&mut s);
            s
        });
        RunningJob {
            child,
            lines: rx,
            t_out: Some(t_out),
            t_err: Some(t_err),
            start: Instant::now(),
            timeout: self.timeout,
            marker: self.marker,
        }
    }

    /// Run to completion (or kill at the deadline and panic).
    pub fn run(self) -> JobOutput {
        self.spawn().finish()
    }
}

/// A job that is running.
pub struct RunningJob {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    t_out: Option<std::thread::JoinHandle<String>>,
    t_err: Option<std::thread::JoinHandle<String>>,
    start: Instant,
    timeout: Duration,
    marker: Option<String>,
}

impl RunningJob {
    /// Pid of the launcher (or of the directly started program).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Wait until a stdout line contains `needle`.
    pub fn wait_for_line(&mut self, needle: &str, deadline: Duration) -> String {
        let start = Instant::now();
        loop {
            let left = deadline.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => continue,
                Err(_) => {
                    self.kill_all();
                    let out = self.collect();
                    panic!(
                        "no line containing {needle:?} within {deadline:?}\n--- stdout\n{}\n--- stderr\n{}",
                        out.stdout, out.stderr
                    );
                }
            }
        }
    }

    /// Kill the job's whole process group.
    pub fn kill_all(&mut self) {
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        if let Some(m) = &self.marker {
            for pid in pids_with_marker(m) {
                // SAFETY: plain kill(2) of a process of this test's job.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = self.child.wait();
    }

    fn collect(&mut self) -> JobOutput {
        let status = self.child.wait().expect("wait");
        let elapsed = self.start.elapsed();
        let stdout = self.t_out.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        let stderr = self.t_err.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        JobOutput { status, stdout, stderr, elapsed }
    }

    /// Wait for the job to end by itself within its deadline; returns its output.
    pub fn finish(self) -> JobOutput {
        let deadline = self.timeout.saturating_sub(self.start.elapsed());
        self.finish_within(deadline)
    }

    /// Wait for the job to end within `deadline` from now, else kill it and panic.
    pub fn finish_within(mut self, deadline: Duration) -> JobOutput {
        let start = Instant::now();
        loop {
            if self.child.try_wait().expect("try_wait").is_some() {
                return self.collect();
            }
            if start.elapsed() > deadline {
                self.kill_all();
                let out = self.collect();
                panic!("job did not end within {deadline:?}\n--- stdout\n{}\n--- stderr\n{}", out.stdout, out.stderr);
            }
            std::thread::park_timeout(Duration::from_millis(2));
        }
    }
}

/// Pid of the process of rank `rank` in the job tagged `marker`.
pub fn pid_of_rank(marker: &str, rank: u32, deadline: Duration) -> i32 {
    let start = Instant::now();
    let want = format!("PMI_RANK={rank}");
    loop {
        for pid in pids_with_marker(marker) {
            if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
                if env.split(|&b| b == 0).any(|kv| kv == want.as_bytes()) {
                    return pid;
                }
            }
        }
        if start.elapsed() > deadline {
            panic!("no process of rank {rank} found within {deadline:?}");
        }
        std::thread::park_timeout(Duration::from_millis(5));
    }
}

/// Pids of live processes whose environment holds `RMPITEST_MARKER=<marker>`.
pub fn pids_with_marker(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let needle = format!("RMPITEST_MARKER={marker}");
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            // Zombies have no readable environment: they are not running.
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
                continue;
            };
            if env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) {
                v.push(pid);
            }
        }
    }
    v
}

/// Wait until no process carries `marker`, or fail after `deadline`.
pub fn assert_no_process_left(marker: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        let left = pids_with_marker(marker);
        if left.is_empty() {
            return;
        }
        if start.elapsed() > deadline {
            panic!("processes still running after {deadline:?}: {left:?} ({marker})");
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// Files of rmpi in /dev/shm whose name contains `needle` (e.g. a job id, or "rmpi-").
pub fn shm_files(needle: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("rmpi-") && n.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

/// A unique marker for [`Job::marked`], so a job's processes can be found.
pub fn marker(test: &str) -> String {
    format!("rmpitest-{test}-{}-{}", std::process::id(), COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
