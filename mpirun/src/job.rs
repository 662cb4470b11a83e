//! Job policy: when the job has failed, what to say, how to end it, and the
//! exit status.
//!
//! The control plane is a tokio current-thread runtime: one loop in
//! [`run`] waits on node inputs (PMI bytes, exits), signals (`SIGINT`,
//! `SIGTERM`, `SIGHUP`) and two timers (the job time limit, the grace period
//! between `SIGTERM` and `SIGKILL`). Everything runs on the main thread, so
//! the job state needs no locks; only stdin and output writing use plain
//! threads (see [`crate::stdio`]).
//!
//! Rules:
//! * A rank killed by signal S, or exiting with N != 0, fails the job with
//!   128+S or N. A rank that spoke PMI and exits 0 without PMI finalize fails
//!   it with 1. `MPI_Abort` (PMI abort) fails it with the abort code. A rank
//!   that never speaks PMI and exits 0 is fine.
//! * The first failure wins: one message on stderr, then all ranks get
//!   `SIGTERM`, and `SIGKILL` 0.5 s later; every rank is reaped.
//! * `SIGINT`/`SIGTERM`/`SIGHUP` to rmpirun end the job the same way with
//!   130/143/129; a second one kills at once. The time limit ends it with 124.
//! * At the end, leftover `/dev/shm/rmpi-<jobid>-*` files are removed.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::RngCore;
use rmpi_pmi::{format_process_mapping, JobInfo, ServerEvent};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use crate::cli::Options;
use crate::node::{LocalNode, NodeEvent, NodePlan};
use crate::spawn::signal_name;
use crate::stdio::OutputWriter;

/// Grace period between `SIGTERM` and `SIGKILL` when ending a job.
pub const KILL_GRACE: Duration = Duration::from_millis(500);
/// How long, after the last rank exited, we wait for its output pipes to drain.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// Exit status when the job exceeds its time limit.
pub const EXIT_TIMEOUT: i32 = 124;

#[derive(Debug, Default, Clone, Copy)]
struct RankState {
    pmi_init: bool,
    finalized: bool,
}

/// The job's progress as seen by the policy.
struct Job {
    ranks: Vec<RankState>,
    /// Exit status once the job is ending (first cause wins).
    ending: Option<i32>,
    kill_at: Option<Instant>,
    killed: bool,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Job {
    fn fail(&mut self, node: &LocalNode, code: i32, message: String) {
        if self.ending.is_some() {
            return;
        }
        eprintln!("rmpirun: {message}");
        self.ending = Some(code);
        node.signal_all(libc::SIGTERM);
        self.kill_at = Some(Instant::now() + KILL_GRACE);
    }

    fn kill_now(&mut self, node: &LocalNode) {
        node.signal_all(libc::SIGKILL);
        self.killed = true;
        self.kill_at = None;
    }

    fn on_event(&mut self, node: &LocalNode, ev: NodeEvent) {
        match ev {
            NodeEvent::Pmi(ServerEvent::Initialized { rank, .. }) => {
                if let Some(r) = self.ranks.get_mut(rank as usize) {
                    r.pmi_init = true;
                }
            }
            NodeEvent::Pmi(ServerEvent::Finalized { rank }) => {
                if let Some(r) = self.ranks.get_mut(rank as usize) {
                    r.finalized = true;
                }
            }
            NodeEvent::Pmi(ServerEvent::Aborted { rank, code, msg }) => {
                let text = if msg.is_empty() {
                    format!("rank {rank} called MPI_Abort (code {code}); ending the job")
                } else {
                    format!("rank {rank} called MPI_Abort (code {code}): {msg}")
                };
                self.fail(node, exit_code_of(code), text);
            }
            NodeEvent::Pmi(ServerEvent::ProtocolError { rank, detail }) => {
                if self.ending.is_none() {
                    eprintln!("rmpirun: warning: rank {rank}: PMI: {detail}");
                }
            }
            NodeEvent::Exited { rank, pid, status } => {
                let state = self.ranks.get(rank as usize).copied().unwrap_or_default();
                let status = match status {
                    Ok(s) => s,
                    Err(e) => {
                        self.fail(node, 1, format!("cannot wait for rank {rank} (pid {pid}): {e}; ending the job"));
                        return;
                    }
                };
                if let Some(sig) = status.signal() {
                    self.fail(
                        node,
                        128 + sig,
                        format!(
                            "rank {rank} (pid {pid}) killed by signal {sig} ({}); ending the job",
                            signal_name(sig)
                        ),
                    );
                } else {
                    let code = status.code().unwrap_or(1);
                    if code != 0 {
                        let when = if state.pmi_init && !state.finalized { " before MPI_Finalize" } else { "" };
                        self.fail(node, code, format!("rank {rank} exited with code {code}{when}; ending the job"));
                    } else if state.pmi_init && !state.finalized {
                        self.fail(
                            node,
                            1,
                            format!(
                                "rank {rank} exited with code 0 after MPI_Init without calling MPI_Finalize; ending the job"
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// An `MPI_Abort` code as a process exit status (0-255; never turns a
/// non-zero code into success).
fn exit_code_of(code: i32) -> i32 {
    let c = code.rem_euclid(256);
    if c == 0 && code != 0 {
        1
    } else {
        c
    }
}

/// Removes `/dev/shm/rmpi-<jobid>-*` left behind by crashed ranks.
fn remove_shm_leftovers(jobid: &str) {
    let prefix = format!("rmpi-{jobid}-");
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.starts_with(&prefix)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Exit status for a program that could not be started (as shells do).
fn spawn_failure_code(err: &std::io::Error) -> i32 {
    match err.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}

/// Runs the whole job; returns rmpirun's exit status and the output writer
/// (to [`OutputWriter::finish`] once the runtime is gone).
pub async fn run(opts: Options) -> Result<(i32, OutputWriter)> {
    let jobid = format!("rmpi-{}-{}", std::process::id(), random_hex(4));
    let secret = random_hex(32);
    let np = opts.np;
    let plan = NodePlan {
        ranks: (0..np).collect(),
        job: JobInfo {
            jobid: jobid.clone(),
            size: np,
            universe_size: np,
            appnum: 0,
            process_mapping: format_process_mapping(&vec![0; np as usize]),
        },
        program: opts.program.clone(),
        args: opts.args.clone(),
        user_env: opts.env.clone(),
        wdir: opts.wdir.clone(),
        secret,
        tag_output: opts.tag_output,
    };

    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;

    let output = OutputWriter::start().context("starting the output thread")?;
    let (in_tx, mut in_rx) = mpsc::unbounded_channel();
    let (mut node, spawn_err) = LocalNode::start(&plan, in_tx, &output.sender());

    let mut job = Job { ranks: vec![RankState::default(); np as usize], ending: None, kill_at: None, killed: false };
    if let Some(e) = spawn_err {
        let prog = display(&e.program);
        job.fail(
            &node,
            spawn_failure_code(&e.error),
            format!("cannot start rank {} ({prog}): {}; ending the job", e.rank, e.error),
        );
    }
    let deadline = opts.timeout.map(|t| Instant::now() + Duration::from_secs(t));

    while node.running() > 0 {
        let far = Instant::now() + Duration::from_secs(86400);
        let timeout_at = deadline.filter(|_| job.ending.is_none()).unwrap_or(far);
        let kill_at = job.kill_at.unwrap_or(far);
        tokio::select! {
            input = in_rx.recv() => {
                let Some(input) = input else { break };
                for ev in node.handle(input) {
                    job.on_event(&node, ev);
                }
            }
            _ = sigint.recv() => on_signal(&mut job, &node, libc::SIGINT),
            _ = sigterm.recv() => on_signal(&mut job, &node, libc::SIGTERM),
            _ = sighup.recv() => on_signal(&mut job, &node, libc::SIGHUP),
            _ = sleep_until(timeout_at), if deadline.is_some() && job.ending.is_none() => {
                let secs = opts.timeout.unwrap_or(0);
                job.fail(&node, EXIT_TIMEOUT, format!("job timed out after {secs} s; ending the job"));
            }
            _ = sleep_until(kill_at), if job.kill_at.is_some() => job.kill_now(&node),
        }
    }

    // Strays the ranks left in the job's process group die with a failed job.
    if job.ending.is_some() {
        if let Some(pgid) = node.pgid() {
            crate::spawn::kill_group(pgid, libc::SIGKILL);
        }
    }
    let drain_until = Instant::now() + OUTPUT_DRAIN;
    for t in node.take_stdio_tasks() {
        if tokio::time::timeout_at(drain_until, t).await.is_err() {
            break;
        }
    }
    drop(node);
    remove_shm_leftovers(&jobid);
    // Forwarders that did not finish (a stray process still holds a pipe)
    // are abandoned when the caller drops the runtime, before
    // `OutputWriter::finish`.
    Ok((job.ending.unwrap_or(0), output))
}

fn on_signal(job: &mut Job, node: &LocalNode, sig: i32) {
    if job.ending.is_some() {
        // Second interruption: no more grace.
        if !job.killed {
            eprintln!("rmpirun: {} again; killing the job now", signal_name(sig));
            job.kill_now(node);
        }
        return;
    }
    job.fail(node, 128 + sig, format!("interrupted by {}; ending the job", signal_name(sig)));
}

fn display(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_codes_map_to_exit_statuses() {
        assert_eq!(exit_code_of(7), 7);
        assert_eq!(exit_code_of(0), 0);
        assert_eq!(exit_code_of(256), 1);
        assert_eq!(exit_code_of(257), 1);
        assert_eq!(exit_code_of(-1), 255);
    }
}
