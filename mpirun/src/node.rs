//! The node proxy: starts this node's ranks, serves their PMI connections,
//! forwards their stdio and reports what happens to them.
//!
//! [`LocalNode`] is deliberately separate from the job policy in
//! [`crate::job`]: it knows processes, sockets and the PMI server, and
//! reports [`NodeEvent`]s; it never decides to end the job. rmpirun runs one
//! for the ranks of its own host, and every node proxy ([`crate::proxy`])
//! runs one for its host. Its KVS is a member KVS: when all of the node's
//! ranks are in a fence it reports [`NodeEvent::FenceGathered`], and the
//! caller completes the fence with the job's merged puts
//! ([`LocalNode::complete_fence`]) once the tree fence is done.
//!
//! Per rank, three kinds of tasks feed one channel of [`NodeInput`]: a PMI
//! reader, an exit watcher, and the stdio forwarders (which write to the
//! output thread directly). A PMI writer task per rank sends replies, so a
//! rank that does not read its replies cannot stall the others.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use rmpi_pmi::{JobInfo, Kvs, PmiServerConn, ServerEvent, ServerOutput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::spawn::{kill_group, kill_pid, spawn_rank, RankLaunch};
use crate::stdio::{forward_lines, forward_stdin, OutputChunk, Stream};

/// How long an exit report waits for the rank's PMI bytes to be read, so
/// that a `finalize` sent just before exiting is never missed.
const PMI_DRAIN_WAIT: Duration = Duration::from_millis(300);

/// What the node's tasks tell the node loop.
#[derive(Debug)]
pub enum NodeInput {
    /// Bytes from a rank's PMI socket.
    PmiData {
        /// Rank.
        rank: u32,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// The rank's process was reaped (sent at once, before [`NodeInput::Exited`]).
    Reaped {
        /// Rank.
        rank: u32,
    },
    /// The rank's process ended.
    Exited {
        /// Rank.
        rank: u32,
        /// Its wait status (or the error of waiting for it).
        status: io::Result<ExitStatus>,
    },
}

/// What the node reports to the job.
#[derive(Debug)]
pub enum NodeEvent {
    /// A PMI event (init, finalize, abort, protocol error).
    Pmi(ServerEvent),
    /// Every rank of the node is in the fence; these are their puts.
    FenceGathered(Vec<(String, String)>),
    /// A rank's process ended (its PMI input was read first).
    Exited {
        /// Rank.
        rank: u32,
        /// Its pid.
        pid: u32,
        /// Its wait status.
        status: io::Result<ExitStatus>,
    },
}

/// Why starting a rank failed.
#[derive(Debug)]
pub struct SpawnError {
    /// The rank that could not be started.
    pub rank: u32,
    /// The program.
    pub program: OsString,
    /// The error from exec.
    pub error: io::Error,
}

/// What the job asks a node to start.
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// Global ranks on this node, in local-rank order.
    pub ranks: Vec<u32>,
    /// Job facts served over PMI.
    pub job: JobInfo,
    /// Program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Environment laid over rmpirun's (a proxy: rmpirun's environment).
    pub base_env: Vec<(OsString, OsString)>,
    /// User environment (`-genv`, `-x`).
    pub user_env: Vec<(OsString, OsString)>,
    /// Set by the launcher after the user's (e.g. `RMPI_TCP_IF`).
    pub extra_env: Vec<(String, String)>,
    /// Where rank 0's stdin comes from.
    pub stdin: StdinSource,
    /// Working directory.
    pub wdir: Option<PathBuf>,
    /// Per-job secret handed to ranks as `RMPI_JOB_SECRET`.
    pub secret: String,
    /// Prefix output lines with `[rank] `.
    pub tag_output: bool,
    /// `--bind-to`.
    pub bind: crate::bind::BindPolicy,
    /// `--report-bindings`: say on stderr where each rank is bound.
    pub report_bindings: bool,
}

/// Where rank 0's standard input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinSource {
    /// rmpirun's own stdin, copied by a thread.
    Launcher,
    /// The caller writes it ([`LocalNode::take_stdin`]); a proxy gets it from rmpirun.
    Caller,
}

/// `RMPI_PMI_TRACE=1` in rmpirun's environment prints every PMI message
/// received and sent on stderr.
fn pmi_trace_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("RMPI_PMI_TRACE").is_some_and(|v| v != "0"))
}

struct RankSlot {
    pid: u32,
    reaped: bool,
    exited: bool,
    pmi_tx: mpsc::UnboundedSender<Option<Vec<u8>>>,
    conn: PmiServerConn,
}

/// This host's share of the job.
pub struct LocalNode {
    slots: HashMap<u32, RankSlot>,
    kvs: Kvs,
    pgid: Option<i32>,
    inputs: mpsc::UnboundedSender<NodeInput>,
    stdio_tasks: Vec<JoinHandle<()>>,
    stdin_source: StdinSource,
    stdin: Option<OwnedFd>,
}

impl LocalNode {
    /// Starts every rank of `plan`. On the first failure the ranks already
    /// started are returned inside the node (so the job can end them) along
    /// with the error.
    pub fn start(
        plan: &NodePlan,
        inputs: mpsc::UnboundedSender<NodeInput>,
        output: &mpsc::Sender<OutputChunk>,
    ) -> (LocalNode, Option<SpawnError>) {
        let mut node = LocalNode {
            slots: HashMap::new(),
            kvs: Kvs::new_member(plan.job.clone(), u32::try_from(plan.ranks.len()).expect("ranks fit u32")),
            pgid: None,
            inputs,
            stdio_tasks: Vec::new(),
            stdin_source: plan.stdin,
            stdin: None,
        };
        let mut env = plan.base_env.clone();
        env.extend(plan.user_env.iter().cloned());
        let local_size = plan.ranks.len();
        let binding = crate::bind::plan(plan.bind, local_size);
        // A bound rank sees only its own core: it is told how many CPUs the
        // host's ranks share, to judge whether they outnumber them. An
        // unbound rank judges by its own affinity.
        let host_cpus = binding.as_ref().map(|_| crate::bind::allowed_cpus().len().max(1));
        for (local, &rank) in plan.ranks.iter().enumerate() {
            if plan.report_bindings {
                let host = crate::hosts::local_hostname();
                match &binding {
                    Some(b) => {
                        eprintln!("rmpirun: {host}: rank {rank} bound to CPUs {}", crate::bind::cpu_list(&b[local]))
                    }
                    None => eprintln!("rmpirun: {host}: rank {rank} not bound"),
                }
            }
            let launch = RankLaunch {
                program: plan.program.clone(),
                args: plan.args.clone(),
                env: env.clone(),
                wdir: plan.wdir.clone(),
                stdin_pipe: rank == 0,
                pgid: node.pgid,
                cpus: binding.as_ref().map(|b| b[local].clone()),
            };
            let pmi_env = vec![
                ("PMI_RANK".to_string(), rank.to_string()),
                ("PMI_SIZE".to_string(), plan.job.size.to_string()),
                ("PMI_JOBID".to_string(), plan.job.jobid.clone()),
                ("RMPI_JOB_SECRET".to_string(), plan.secret.clone()),
                ("RMPI_LOCAL_RANK".to_string(), local.to_string()),
                ("RMPI_LOCAL_SIZE".to_string(), local_size.to_string()),
            ]
            .into_iter()
            .chain(host_cpus.map(|n| ("RMPI_NODE_CPUS".to_string(), n.to_string())))
            .chain(plan.extra_env.iter().cloned())
            .collect::<Vec<_>>();
            match spawn_rank(&launch, &pmi_env) {
                Ok(spawned) => {
                    if node.pgid.is_none() {
                        node.pgid = i32::try_from(spawned.pid).ok();
                    }
                    let prefix = plan.tag_output.then(|| format!("[{rank}] "));
                    node.adopt(rank, spawned, prefix, output);
                }
                Err(error) => return (node, Some(SpawnError { rank, program: plan.program.clone(), error })),
            }
        }
        (node, None)
    }

    fn adopt(
        &mut self,
        rank: u32,
        spawned: crate::spawn::SpawnedRank,
        prefix: Option<String>,
        output: &mpsc::Sender<OutputChunk>,
    ) {
        let mut child = spawned.child;
        if let Some(out) = child.stdout.take() {
            self.stdio_tasks.push(tokio::spawn(forward_lines(out, Stream::Stdout, prefix.clone(), output.clone())));
        }
        if let Some(err) = child.stderr.take() {
            self.stdio_tasks.push(tokio::spawn(forward_lines(err, Stream::Stderr, prefix, output.clone())));
        }
        if let Some(stdin) = child.stdin.take() {
            match stdin.into_owned_fd() {
                Ok(fd) if self.stdin_source == StdinSource::Caller => self.stdin = Some(fd),
                Ok(fd) => {
                    if let Err(e) = forward_stdin(fd) {
                        eprintln!("rmpirun: warning: cannot forward stdin to rank 0: {e}");
                    }
                }
                Err(e) => eprintln!("rmpirun: warning: cannot forward stdin to rank 0: {e}"),
            }
        }

        // PMI reader and writer.
        let (eof_tx, eof_rx) = oneshot::channel::<()>();
        let (pmi_tx, pmi_rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
        match spawned.pmi.set_nonblocking(true).and_then(|()| tokio::net::UnixStream::from_std(spawned.pmi)) {
            Ok(stream) => {
                let (rd, wr) = stream.into_split();
                tokio::spawn(pmi_reader(rank, rd, self.inputs.clone(), eof_tx));
                tokio::spawn(pmi_writer(wr, pmi_rx));
            }
            Err(e) => {
                eprintln!("rmpirun: warning: cannot serve PMI to rank {rank}: {e}");
                let _ = eof_tx.send(());
                // Keep `spawned.pmi` from being used; nothing more to do.
            }
        }

        // Exit watcher.
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = inputs.send(NodeInput::Reaped { rank });
            let _ = tokio::time::timeout(PMI_DRAIN_WAIT, eof_rx).await;
            let _ = inputs.send(NodeInput::Exited { rank, status });
        });

        self.slots.insert(
            rank,
            RankSlot { pid: spawned.pid, reaped: false, exited: false, pmi_tx, conn: PmiServerConn::new(rank) },
        );
    }

    /// Rank 0's stdin pipe, with [`StdinSource::Caller`] (once).
    pub fn take_stdin(&mut self) -> Option<OwnedFd> {
        self.stdin.take()
    }

    /// Ends the current fence with the job's merged puts: they become
    /// visible and the node's waiting ranks get their replies.
    pub fn complete_fence(&mut self, merged: Vec<(String, String)>) -> Vec<NodeEvent> {
        let waiters = self.kvs.complete_fence(merged);
        let mut events = Vec::new();
        for r in waiters {
            let more = match self.slots.get_mut(&r) {
                Some(slot) => slot.conn.resume(&mut self.kvs),
                None => Vec::new(),
            };
            self.apply(r, more, &mut events);
        }
        events
    }

    /// The job's process group (the first rank's pid), once a rank started.
    pub fn pgid(&self) -> Option<i32> {
        self.pgid
    }

    /// Ranks whose exit has not been reported yet.
    pub fn running(&self) -> usize {
        self.slots.values().filter(|s| !s.exited).count()
    }

    /// Sends `sig` to the job's process group and to every rank not yet reaped.
    pub fn signal_all(&self, sig: libc::c_int) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid, sig);
        }
        for s in self.slots.values() {
            if !s.reaped {
                kill_pid(s.pid, sig);
            }
        }
    }

    /// Sends `sig` once to every rank not yet reaped (not to the group: a
    /// signal the ranks handle must arrive once).
    pub fn signal_each(&self, sig: libc::c_int) {
        for s in self.slots.values() {
            if !s.reaped {
                kill_pid(s.pid, sig);
            }
        }
    }

    /// Handles one input; returns the events for the job.
    pub fn handle(&mut self, input: NodeInput) -> Vec<NodeEvent> {
        let mut events = Vec::new();
        match input {
            NodeInput::PmiData { rank, bytes } => {
                if pmi_trace_enabled() {
                    eprintln!("rmpirun: pmi rank {rank} -> {:?}", String::from_utf8_lossy(&bytes));
                }
                let outs = match self.slots.get_mut(&rank) {
                    Some(slot) => slot.conn.feed(&bytes, &mut self.kvs),
                    None => Vec::new(),
                };
                self.apply(rank, outs, &mut events);
            }
            NodeInput::Reaped { rank } => {
                if let Some(s) = self.slots.get_mut(&rank) {
                    s.reaped = true;
                }
            }
            NodeInput::Exited { rank, status } => {
                if let Some(s) = self.slots.get_mut(&rank) {
                    s.exited = true;
                    s.reaped = true;
                    events.push(NodeEvent::Exited { rank, pid: s.pid, status });
                }
            }
        }
        events
    }

    fn apply(&mut self, rank: u32, outs: Vec<ServerOutput>, events: &mut Vec<NodeEvent>) {
        for o in outs {
            match o {
                ServerOutput::Reply(bytes) => {
                    if pmi_trace_enabled() {
                        eprintln!("rmpirun: pmi rank {rank} <- {:?}", String::from_utf8_lossy(&bytes));
                    }
                    if let Some(s) = self.slots.get(&rank) {
                        let _ = s.pmi_tx.send(Some(bytes));
                    }
                }
                ServerOutput::Close => {
                    if let Some(s) = self.slots.get(&rank) {
                        let _ = s.pmi_tx.send(None);
                    }
                }
                ServerOutput::Event(e) => events.push(NodeEvent::Pmi(e)),
                ServerOutput::Gathered(delta) => events.push(NodeEvent::FenceGathered(delta)),
                ServerOutput::Resume(ranks) => {
                    for r in ranks {
                        let more = match self.slots.get_mut(&r) {
                            Some(slot) => slot.conn.resume(&mut self.kvs),
                            None => Vec::new(),
                        };
                        self.apply(r, more, events);
                    }
                }
            }
        }
    }

    /// The stdio forwarding tasks (they end at EOF of the ranks' pipes).
    pub fn take_stdio_tasks(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.stdio_tasks)
    }
}

async fn pmi_reader(
    rank: u32,
    mut rd: tokio::net::unix::OwnedReadHalf,
    inputs: mpsc::UnboundedSender<NodeInput>,
    eof: oneshot::Sender<()>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if inputs.send(NodeInput::PmiData { rank, bytes: buf[..n].to_vec() }).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = eof.send(());
}

async fn pmi_writer(mut wr: tokio::net::unix::OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Option<Vec<u8>>>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Some(bytes) => {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            None => {
                let _ = wr.shutdown().await;
                return;
            }
        }
    }
}
