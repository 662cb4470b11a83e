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
//! * The first failure wins: one message on stderr (naming the rank, and in
//!   a multi-host job its host), then all ranks get `SIGTERM`, and `SIGKILL`
//!   0.5 s later; every rank is reaped.
//! * `SIGINT`/`SIGTERM`/`SIGHUP` to rmpirun end the job the same way with
//!   130/143/129; a second one kills at once. The time limit ends it with 124.
//!   `SIGUSR1`/`SIGUSR2` are passed on to every rank.
//! * Multi-host: a node proxy that cannot start, does not join within
//!   `RMPI_PROXY_TIMEOUT` seconds (default 60), or loses its connection
//!   fails the job (exit status 1) with a message naming the host. Ranks
//!   of other hosts get the same SIGTERM / SIGKILL through their proxies.
//! * At the end, leftover `/dev/shm/rmpi-<jobid>-*` files are removed.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::RngCore;
use rmpi_pmi::tree::{encode_delta, tree_children, FenceStep, TreeFence};
use rmpi_pmi::{JobInfo, ServerEvent};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use crate::cli::Options;
use crate::layout::Layout;
use crate::node::{LocalNode, NodeEvent, NodePlan, StdinSource};
use crate::remote::{Remote, RemoteEvent};
use crate::spawn::signal_name;
use crate::stdio::{OutputChunk, OutputWriter, Stream};
use crate::wire::{Msg, Plan, RankExit};

/// Grace period between `SIGTERM` and `SIGKILL` when ending a job.
pub const KILL_GRACE: Duration = Duration::from_millis(500);
/// How long, after the last rank exited, we wait for its output pipes to drain.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// After `SIGKILL`, how long proxies have to report their ranks gone.
const REMOTE_GRACE: Duration = Duration::from_millis(1500);

/// Exit status when the job exceeds its time limit.
pub const EXIT_TIMEOUT: i32 = 124;

#[derive(Debug, Default, Clone, Copy)]
struct RankState {
    pmi_init: bool,
    finalized: bool,
}

/// The processes of the job: this host's ranks and the node proxies.
struct Nodes {
    local: Option<LocalNode>,
    remote: Option<Remote>,
}

impl Nodes {
    fn signal_all(&self, sig: libc::c_int) {
        if let Some(l) = &self.local {
            l.signal_all(sig);
        }
        if let Some(r) = &self.remote {
            r.broadcast(&Msg::Signal { sig });
        }
    }

    /// Passes a signal the ranks may handle (SIGUSR1/2) to each rank once.
    fn forward(&self, sig: libc::c_int) {
        if let Some(l) = &self.local {
            l.signal_each(sig);
        }
        if let Some(r) = &self.remote {
            r.broadcast(&Msg::Signal { sig });
        }
    }
}

/// The job's progress as seen by the policy.
struct Job {
    ranks: Vec<RankState>,
    /// Host of every rank, named in messages of multi-host jobs.
    rank_host: Option<Vec<String>>,
    /// Exit status once the job is ending (first cause wins).
    ending: Option<i32>,
    kill_at: Option<Instant>,
    killed: bool,
    /// When a failing job stops waiting for unresponsive proxies.
    give_up_at: Option<Instant>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Job {
    fn fail(&mut self, nodes: &Nodes, code: i32, message: String) {
        if self.ending.is_some() {
            return;
        }
        eprintln!("rmpirun: {message}");
        self.ending = Some(code);
        nodes.signal_all(libc::SIGTERM);
        self.kill_at = Some(Instant::now() + KILL_GRACE);
        self.give_up_at = Some(Instant::now() + KILL_GRACE + REMOTE_GRACE);
    }

    fn kill_now(&mut self, nodes: &Nodes) {
        nodes.signal_all(libc::SIGKILL);
        self.killed = true;
        self.kill_at = None;
        let give_up = Instant::now() + REMOTE_GRACE;
        self.give_up_at = Some(self.give_up_at.map_or(give_up, |g| g.min(give_up)));
    }

    /// `rank 3` or, in a multi-host job, `rank 3 on n2`.
    fn who(&self, rank: u32) -> String {
        match self.rank_host.as_ref().and_then(|h| h.get(rank as usize)) {
            Some(h) => format!("rank {rank} on {h}"),
            None => format!("rank {rank}"),
        }
    }

    fn on_pmi(&mut self, nodes: &Nodes, ev: ServerEvent) {
        match ev {
            ServerEvent::Initialized { rank, .. } => {
                if let Some(r) = self.ranks.get_mut(rank as usize) {
                    r.pmi_init = true;
                }
            }
            ServerEvent::Finalized { rank } => {
                if let Some(r) = self.ranks.get_mut(rank as usize) {
                    r.finalized = true;
                }
            }
            ServerEvent::Aborted { rank, code, msg } => {
                let who = self.who(rank);
                let text = if msg.is_empty() {
                    format!("{who} called MPI_Abort (code {code}); ending the job")
                } else {
                    format!("{who} called MPI_Abort (code {code}): {msg}")
                };
                self.fail(nodes, exit_code_of(code), text);
            }
            ServerEvent::ProtocolError { rank, detail } => {
                if self.ending.is_none() {
                    eprintln!("rmpirun: warning: {}: PMI: {detail}", self.who(rank));
                }
            }
        }
    }

    fn on_exit(&mut self, nodes: &Nodes, rank: u32, pid: u32, how: RankExit) {
        let state = self.ranks.get(rank as usize).copied().unwrap_or_default();
        let who = self.who(rank);
        match how {
            RankExit::WaitError(e) => {
                self.fail(nodes, 1, format!("cannot wait for {who} (pid {pid}): {e}; ending the job"));
            }
            RankExit::Signal(sig) => self.fail(
                nodes,
                128 + sig,
                format!("{who} (pid {pid}) killed by signal {sig} ({}); ending the job", signal_name(sig)),
            ),
            RankExit::Code(code) if code != 0 => {
                let when = if state.pmi_init && !state.finalized { " before MPI_Finalize" } else { "" };
                self.fail(nodes, code, format!("{who} exited with code {code}{when}; ending the job"));
            }
            RankExit::Code(_) => {
                if state.pmi_init && !state.finalized {
                    self.fail(
                        nodes,
                        1,
                        format!("{who} exited with code 0 after MPI_Init without calling MPI_Finalize; ending the job"),
                    );
                }
            }
        }
    }
}

fn rank_exit(status: std::io::Result<std::process::ExitStatus>) -> RankExit {
    match status {
        Ok(s) => match s.signal() {
            Some(sig) => RankExit::Signal(sig),
            None => RankExit::Code(s.code().unwrap_or(1)),
        },
        Err(e) => RankExit::WaitError(e.to_string()),
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
fn spawn_failure_code(not_found: bool) -> i32 {
    if not_found {
        127
    } else {
        126
    }
}

/// Reads rmpirun's stdin in a thread, for a rank 0 on another host.
fn stdin_reader() -> mpsc::UnboundedReceiver<Vec<u8>> {
    use std::io::Read;
    let (tx, rx) = mpsc::unbounded_channel();
    if crate::stdio::stdin_is_background_tty() {
        // Reading would stop us with SIGTTIN: rank 0 gets an empty stdin.
        let _ = tx.send(Vec::new());
        return rx;
    }
    let _ = std::thread::Builder::new().name("rmpirun-stdin".into()).spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Vec::new());
    });
    rx
}

fn proxy_timeout() -> Duration {
    let secs = std::env::var("RMPI_PROXY_TIMEOUT").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(60);
    Duration::from_secs(secs)
}

/// Runs the whole job; returns rmpirun's exit status and the output writer
/// (to [`OutputWriter::finish`] once the runtime is gone).
pub async fn run(opts: Options) -> Result<(i32, OutputWriter)> {
    let layout = Layout::new(&opts, &|k| std::env::var(k).ok())?;
    let jobid = format!("rmpi-{}-{}", std::process::id(), random_hex(4));
    let secret = random_hex(32);
    let np = layout.np;
    let multi = layout.is_multi_host();
    let job_info = JobInfo {
        jobid: jobid.clone(),
        size: np,
        universe_size: np,
        appnum: 0,
        process_mapping: layout.process_mapping(),
    };
    let node_ranks = layout.node_ranks();
    let local_ranks = node_ranks[0].clone();
    let rank0_local = local_ranks.contains(&0);
    let mut local_plan = NodePlan {
        ranks: local_ranks.clone(),
        job: job_info.clone(),
        program: opts.program.clone(),
        args: opts.args.clone(),
        base_env: Vec::new(),
        user_env: opts.env.clone(),
        extra_env: Vec::new(),
        wdir: opts.wdir.clone(),
        secret: secret.clone(),
        tag_output: opts.tag_output,
        bind: opts.bind,
        report_bindings: opts.report_bindings,
        stdin: StdinSource::Launcher,
    };

    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut sigusr1 = signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
    let mut sigusr2 = signal(SignalKind::user_defined2()).context("installing the SIGUSR2 handler")?;

    let output = OutputWriter::start().context("starting the output thread")?;
    let out_tx = output.sender();
    let (in_tx, mut in_rx) = mpsc::unbounded_channel();
    let mut job = Job {
        ranks: vec![RankState::default(); np as usize],
        rank_host: multi.then(|| layout.rank_hosts()),
        ending: None,
        kill_at: None,
        killed: false,
        give_up_at: None,
    };
    let mut nodes = Nodes { local: None, remote: None };
    let mut fence = TreeFence::new(0, !local_ranks.is_empty(), true);
    let mut stdin_rx: Option<mpsc::UnboundedReceiver<Vec<u8>>> = None;
    let start_local = |nodes: &mut Nodes, job: &mut Job, plan: &NodePlan| {
        if plan.ranks.is_empty() {
            return;
        }
        let (node, spawn_err) = LocalNode::start(plan, in_tx.clone(), &out_tx);
        nodes.local = Some(node);
        if let Some(e) = spawn_err {
            let prog = display(&e.program);
            let code = spawn_failure_code(e.error.kind() == std::io::ErrorKind::NotFound);
            let who = job.who(e.rank);
            job.fail(nodes, code, format!("cannot start {who} ({prog}): {}; ending the job", e.error));
        }
    };
    let join_deadline = Instant::now() + proxy_timeout();
    if multi {
        let remote = Remote::start(&layout, &secret, &out_tx).await?;
        fence = TreeFence::new(
            tree_children(0, remote.proxies() + 1, remote_fanout()).len(),
            !local_ranks.is_empty(),
            true,
        );
        nodes.remote = Some(remote);
    } else {
        start_local(&mut nodes, &mut job, &local_plan);
    }
    let mut plan_sent = !multi;
    let deadline = opts.timeout.map(|t| Instant::now() + Duration::from_secs(t));

    loop {
        let local_running = nodes.local.as_ref().map_or(0, LocalNode::running);
        let remote_done = nodes.remote.as_ref().is_none_or(Remote::all_done);
        if local_running == 0 && remote_done && (plan_sent || job.ending.is_some()) {
            break;
        }
        if job.ending.is_some() && !plan_sent {
            break;
        }
        let now = Instant::now();
        if job.give_up_at.is_some_and(|g| now >= g) && local_running == 0 {
            if let Some(r) = &nodes.remote {
                let left: Vec<String> = crate::remote::unfinished(r).into_iter().collect();
                eprintln!("rmpirun: no word from the node proxies on {} after the kill; leaving", left.join(", "));
            }
            break;
        }
        let far = now + Duration::from_secs(86400);
        let timeout_at = deadline.filter(|_| job.ending.is_none()).unwrap_or(far);
        let kill_at = job.kill_at.unwrap_or(far);
        let give_up_at = job.give_up_at.unwrap_or(far);
        let join_at = if plan_sent { far } else { join_deadline };
        let remote = nodes.remote.as_mut();
        let (has_remote, listener, conn_rx, acc_rx, agent_rx) = match remote {
            Some(r) => (true, Some(&r.listener), Some(&mut r.conn_rx), Some(&mut r.acc_rx), Some(&mut r.agent_rx)),
            None => (false, None, None, None, None),
        };
        let mut remote_events: Vec<RemoteEvent> = Vec::new();
        let mut local_events: Vec<NodeEvent> = Vec::new();
        let mut stdin_bytes: Option<Vec<u8>> = None;
        tokio::select! {
            input = in_rx.recv() => {
                let Some(input) = input else { break };
                if let Some(l) = nodes.local.as_mut() {
                    local_events = l.handle(input);
                }
            }
            acc = async { listener.expect("has_remote").accept().await }, if has_remote => {
                if let (Ok((s, _)), Some(r)) = (acc, nodes.remote.as_ref()) {
                    r.admit(s);
                }
            }
            Some((s, g)) = async { acc_rx.expect("has_remote").recv().await }, if has_remote => {
                if let Some(r) = nodes.remote.as_mut() {
                    remote_events = r.on_accepted(s, g);
                }
            }
            Some(ev) = async { conn_rx.expect("has_remote").recv().await }, if has_remote => {
                if let Some(r) = nodes.remote.as_mut() {
                    remote_events = r.on_conn(ev);
                }
            }
            Some(ev) = async { agent_rx.expect("has_remote").recv().await }, if has_remote => {
                if let Some(r) = nodes.remote.as_mut() {
                    remote_events = r.on_agent_exit(ev);
                }
            }
            Some(bytes) = async { stdin_rx.as_mut().expect("stdin").recv().await }, if stdin_rx.is_some() => {
                stdin_bytes = Some(bytes);
            }
            _ = sigint.recv() => on_signal(&mut job, &nodes, libc::SIGINT),
            _ = sigterm.recv() => on_signal(&mut job, &nodes, libc::SIGTERM),
            _ = sighup.recv() => on_signal(&mut job, &nodes, libc::SIGHUP),
            // Passed on to every rank, on every host; the job goes on.
            _ = sigusr1.recv() => nodes.forward(libc::SIGUSR1),
            _ = sigusr2.recv() => nodes.forward(libc::SIGUSR2),
            _ = sleep_until(timeout_at), if deadline.is_some() && job.ending.is_none() => {
                let secs = opts.timeout.unwrap_or(0);
                job.fail(&nodes, EXIT_TIMEOUT, format!("job timed out after {secs} s; ending the job"));
            }
            _ = sleep_until(kill_at), if job.kill_at.is_some() => job.kill_now(&nodes),
            _ = sleep_until(give_up_at), if job.give_up_at.is_some() => {}
            _ = sleep_until(join_at), if !plan_sent => {
                let missing = nodes.remote.as_ref().map(Remote::missing).unwrap_or_default();
                job.fail(&nodes, 1, format!(
                    "the node proxies on {} did not connect within {} s; ending the job",
                    missing.join(", "), proxy_timeout().as_secs()));
            }
        }
        if let Some(bytes) = stdin_bytes {
            if bytes.is_empty() {
                stdin_rx = None;
            }
            if let Some(r) = &nodes.remote {
                r.broadcast(&Msg::Stdin { bytes });
            }
        }
        for ev in local_events {
            match ev {
                NodeEvent::Pmi(e) => job.on_pmi(&nodes, e),
                NodeEvent::Exited { rank, pid, status } => job.on_exit(&nodes, rank, pid, rank_exit(status)),
                NodeEvent::FenceGathered(delta) => {
                    let step = fence.local_ready(delta);
                    complete_fence(&mut nodes, &mut job, step);
                }
            }
        }
        for ev in remote_events {
            match ev {
                RemoteEvent::AllJoined => {
                    if job.ending.is_some() {
                        continue;
                    }
                    let remote = nodes.remote.as_ref().expect("multi-host job");
                    if let Some(ip) = remote.local_ip {
                        if std::env::var_os("RMPI_TCP_IF").is_none()
                            && !opts.env.iter().any(|(k, _)| k == "RMPI_TCP_IF")
                        {
                            local_plan.extra_env.push(("RMPI_TCP_IF".into(), ip.to_string()));
                        }
                    }
                    let plan = Plan {
                        jobid: jobid.clone(),
                        size: np,
                        mapping: job_info.process_mapping.clone(),
                        program: opts.program.clone(),
                        args: opts.args.clone(),
                        base_env: crate::remote::exported_env(),
                        user_env: opts.env.clone(),
                        wdir: Some(match &opts.wdir {
                            Some(w) => w.clone().into_os_string(),
                            None => std::env::current_dir().context("rmpirun's working directory")?.into_os_string(),
                        }),
                        secret: secret.clone(),
                        tag_output: opts.tag_output,
                        bind: opts.bind.to_wire(),
                        report_bindings: opts.report_bindings,
                        node_ranks: node_ranks.clone(),
                        node_hosts: layout.node_hosts(),
                        fanout: u32::try_from(remote_fanout()).expect("small fan-out"),
                    };
                    remote.broadcast(&Msg::Plan(Box::new(plan)));
                    plan_sent = true;
                    if !rank0_local {
                        stdin_rx = Some(stdin_reader());
                    }
                    start_local(&mut nodes, &mut job, &local_plan);
                }
                RemoteEvent::Failed { text } => {
                    if job.ending.is_none() {
                        job.fail(&nodes, 1, format!("{text}; ending the job"));
                    }
                }
                RemoteEvent::Up(m) => match m {
                    Msg::Output { stderr, bytes } => {
                        let stream = if stderr { Stream::Stderr } else { Stream::Stdout };
                        let _ = out_tx.send(OutputChunk { stream, bytes }).await;
                    }
                    Msg::Initialized { rank } => {
                        job.on_pmi(&nodes, ServerEvent::Initialized { rank, version: rmpi_pmi::PmiVersion::V2 })
                    }
                    Msg::Finalized { rank } => job.on_pmi(&nodes, ServerEvent::Finalized { rank }),
                    Msg::Aborted { rank, code, msg } => job.on_pmi(&nodes, ServerEvent::Aborted { rank, code, msg }),
                    Msg::ProtocolError { rank, detail } => {
                        job.on_pmi(&nodes, ServerEvent::ProtocolError { rank, detail })
                    }
                    Msg::Exited { rank, pid, how } => job.on_exit(&nodes, rank, pid, how),
                    Msg::SpawnFailed { rank, not_found, error } => {
                        let who = job.who(rank);
                        let prog = display(&opts.program);
                        job.fail(
                            &nodes,
                            spawn_failure_code(not_found),
                            format!("cannot start {who} ({prog}): {error}; ending the job"),
                        );
                    }
                    Msg::FenceIn { delta } => match rmpi_pmi::tree::decode_delta(&delta) {
                        Ok(d) => {
                            let step = fence.child_ready(d);
                            complete_fence(&mut nodes, &mut job, step);
                        }
                        Err(e) => job.fail(&nodes, 1, format!("bad fence data from a node proxy: {e}")),
                    },
                    _ => {}
                },
            }
        }
    }

    // Strays the ranks left in the job's process group die with a failed job.
    if job.ending.is_some() {
        if let Some(pgid) = nodes.local.as_ref().and_then(LocalNode::pgid) {
            crate::spawn::kill_group(pgid, libc::SIGKILL);
        }
    }
    if let Some(r) = nodes.remote.as_mut() {
        r.shutdown(Duration::from_secs(2)).await;
    }
    let drain_until = Instant::now() + OUTPUT_DRAIN;
    if let Some(l) = nodes.local.as_mut() {
        for t in l.take_stdio_tasks() {
            if tokio::time::timeout_at(drain_until, t).await.is_err() {
                break;
            }
        }
    }
    drop(nodes);
    drop(out_tx);
    remove_shm_leftovers(&jobid);
    // Forwarders that did not finish (a stray process still holds a pipe)
    // are abandoned when the caller drops the runtime, before
    // `OutputWriter::finish`.
    Ok((job.ending.unwrap_or(0), output))
}

fn remote_fanout() -> usize {
    std::env::var("RMPI_TREE_FANOUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&f: &usize| f > 0)
        .unwrap_or(crate::remote::DEFAULT_FANOUT as usize)
}

/// The root's side of a fence step: when complete, commit locally and
/// send the merge down the tree.
fn complete_fence(nodes: &mut Nodes, job: &mut Job, step: FenceStep) {
    match step {
        FenceStep::Wait => {}
        FenceStep::SendUp(_) => unreachable!("rmpirun is the root of the fence tree"),
        FenceStep::Complete(merged) => {
            if let Some(r) = &nodes.remote {
                r.broadcast(&Msg::FenceOut { delta: encode_delta(&merged) });
            }
            let evs = match nodes.local.as_mut() {
                Some(l) => l.complete_fence(merged),
                None => Vec::new(),
            };
            for ev in evs {
                match ev {
                    NodeEvent::Pmi(e) => job.on_pmi(nodes, e),
                    NodeEvent::Exited { rank, pid, status } => job.on_exit(nodes, rank, pid, rank_exit(status)),
                    NodeEvent::FenceGathered(_) => {}
                }
            }
        }
    }
}

fn on_signal(job: &mut Job, nodes: &Nodes, sig: i32) {
    if job.ending.is_some() {
        // Second interruption: no more grace.
        if !job.killed {
            eprintln!("rmpirun: {} again; killing the job now", signal_name(sig));
            job.kill_now(nodes);
        }
        return;
    }
    job.fail(nodes, 128 + sig, format!("interrupted by {}; ending the job", signal_name(sig)));
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
