//! rmpirun's side of the node proxies: starting them (agent or srun),
//! admitting them into the tree, and talking to its direct children.
//!
//! Every proxy first connects to rmpirun and proves the job secret. A proxy
//! whose tree parent is rmpirun (node ids 1..=fanout) stays; any other is
//! told where its parent listens (`Redirect`, sent once the parent has
//! joined) and joins there. rmpirun learns of every join (relayed
//! `Joined`); when all proxies are in, the job's plan goes down the tree.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::net::IpAddr;
use std::process::Stdio;

use anyhow::{Context, Result};
use rmpi_pmi::tree::{tree_children, tree_parent};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::cli::Launcher;
use crate::conn::{establish, server_handshake, ConnEvent, Greeting, Link};
use crate::layout::Layout;
use crate::stdio::{forward_lines, OutputChunk, Stream};
use crate::wire::Msg;

/// Default fan-out of the proxy tree (`RMPI_TREE_FANOUT`).
pub const DEFAULT_FANOUT: u32 = 32;

/// A started agent process (ssh, the `--launcher-exec` agent, or srun).
struct Agent {
    /// Tree nodes it starts (one, or every proxy for srun).
    nodes: Vec<u32>,
    /// Its pid (its own process group).
    pid: Option<u32>,
    /// How it was called, for messages.
    what: String,
    exited: bool,
}

/// An agent process ended.
#[derive(Debug)]
pub struct AgentExit {
    index: usize,
    status: std::io::Result<std::process::ExitStatus>,
}

/// What happened among the proxies, for the job.
#[derive(Debug)]
pub enum RemoteEvent {
    /// Every proxy has joined: the plan may go out.
    AllJoined,
    /// A message a proxy sent up.
    Up(Msg),
    /// A proxy (and its subtree) is gone or could not start.
    Failed {
        /// What happened.
        text: String,
    },
}

struct NodeState {
    host: String,
    joined: bool,
    done: bool,
    /// Reachable address of its child listener.
    addr: Option<(IpAddr, u16)>,
}

/// The proxies of a job, seen from rmpirun.
pub struct Remote {
    /// Accepts proxy connections.
    pub listener: TcpListener,
    /// Events of established connections to direct children.
    pub conn_rx: mpsc::UnboundedReceiver<ConnEvent>,
    conn_tx: mpsc::UnboundedSender<ConnEvent>,
    /// Handshakes that finished.
    pub acc_rx: mpsc::UnboundedReceiver<(TcpStream, Result<Greeting>)>,
    acc_tx: mpsc::UnboundedSender<(TcpStream, Result<Greeting>)>,
    /// Agents that ended.
    pub agent_rx: mpsc::UnboundedReceiver<AgentExit>,
    agent_tx: mpsc::UnboundedSender<AgentExit>,
    agents: Vec<Agent>,
    /// Direct children by connection id.
    children: HashMap<usize, (u32, Link)>,
    next_id: usize,
    /// Index = tree node id (0 = rmpirun).
    nodes: Vec<NodeState>,
    /// Connections waiting for their parent to join, to be redirected.
    parked: Vec<(TcpStream, u32)>,
    fanout: u32,
    secret: String,
    all_joined: bool,
    /// Our address as the first non-loopback proxy reached it.
    pub local_ip: Option<IpAddr>,
}

fn quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./,:=@%+".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Remote {
    /// Listens, then starts the proxies of `layout` (tree nodes 1..).
    pub async fn start(layout: &Layout, secret: &str, output: &mpsc::Sender<OutputChunk>) -> Result<Remote> {
        let listener = TcpListener::bind(("0.0.0.0", 0)).await.context("listening for node proxies")?;
        let port = listener.local_addr()?.port();
        let fanout = std::env::var("RMPI_TREE_FANOUT")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&f| f > 0)
            .unwrap_or(DEFAULT_FANOUT);
        let (conn_tx, conn_rx) = mpsc::unbounded_channel();
        let (acc_tx, acc_rx) = mpsc::unbounded_channel();
        let (agent_tx, agent_rx) = mpsc::unbounded_channel();
        let node_hosts = layout.node_hosts();
        let nodes =
            node_hosts.iter().map(|h| NodeState { host: h.clone(), joined: false, done: false, addr: None }).collect();
        let mut r = Remote {
            listener,
            conn_rx,
            conn_tx,
            acc_rx,
            acc_tx,
            agent_rx,
            agent_tx,
            agents: Vec::new(),
            children: HashMap::new(),
            next_id: 1,
            nodes,
            parked: Vec::new(),
            fanout,
            secret: secret.to_string(),
            all_joined: false,
            local_ip: None,
        };
        r.nodes[0].joined = true;
        let exe = match std::env::var_os("RMPI_PROXY_EXEC") {
            Some(p) => p.to_string_lossy().into_owned(),
            None => std::env::current_exe().context("finding rmpirun's own path")?.to_string_lossy().into_owned(),
        };
        let all_ips = crate::addrs::host_ipv4();
        match &layout.launcher {
            Launcher::Slurm => {
                let hosts: Vec<String> = node_hosts[1..].to_vec();
                let root = format!("{}:{port}", crate::addrs::launcher_addrs_for(None, &all_ips).join(","));
                let n = hosts.len().to_string();
                let mut cmd = Command::new("srun");
                cmd.arg(format!("--nodes={n}"))
                    .arg(format!("--ntasks={n}"))
                    .arg("--ntasks-per-node=1")
                    .arg("--kill-on-bad-exit=1")
                    .arg("--mpi=none")
                    .arg("--cpu-bind=none")
                    .arg(format!("--nodelist={}", hosts.join(",")));
                // The ranks are the proxies' children: give each proxy the
                // node's CPUs, or a cgroup-confining Slurm would squeeze all
                // of a node's ranks onto one CPU.
                let cpus = std::env::var("SLURM_JOB_CPUS_PER_NODE")
                    .ok()
                    .and_then(|v| crate::hosts::expand_tasks_per_node(&v).ok())
                    .and_then(|v| v.into_iter().min())
                    .filter(|&c| c > 1);
                if let Some(c) = cpus {
                    cmd.arg(format!("--cpus-per-task={c}"));
                }
                cmd.arg(&exe)
                    .args(["--proxy", "--slurm-node", "--fanout", &fanout.to_string(), "--root", &root])
                    .env("RMPI_PROXY_SECRET", secret)
                    .stdin(Stdio::null());
                let nodes: Vec<u32> = (1..node_hosts.len() as u32).collect();
                r.spawn_agent(cmd, nodes, format!("srun ... {exe} --proxy"), None, output)?;
            }
            Launcher::Agent(words) => {
                for (i, host) in node_hosts.iter().enumerate().skip(1) {
                    let root = format!("{}:{port}", crate::addrs::launcher_addrs_for(Some(host), &all_ips).join(","));
                    let line = format!(
                        "exec {} --proxy --node {i} --fanout {fanout} --root {} --host {}",
                        quote(&exe),
                        quote(&root),
                        quote(host)
                    );
                    let mut cmd = Command::new(&words[0]);
                    cmd.args(&words[1..]).arg(host).arg(&line).stdin(Stdio::piped());
                    let what = format!("{} {host} \"{line}\"", words.join(" "));
                    r.spawn_agent(cmd, vec![i as u32], what, Some(secret), output)?;
                }
            }
            Launcher::Fork => {}
        }
        Ok(r)
    }

    fn spawn_agent(
        &mut self,
        mut cmd: Command,
        nodes: Vec<u32>,
        what: String,
        secret_on_stdin: Option<&str>,
        output: &mpsc::Sender<OutputChunk>,
    ) -> Result<()> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(false);
        let index = self.agents.len();
        let mut child = cmd.spawn().with_context(|| format!("starting the node proxy: {what}"))?;
        let pid = child.id();
        if let (Some(mut stdin), Some(secret)) = (child.stdin.take(), secret_on_stdin) {
            let line = format!("{secret}\n");
            tokio::spawn(async move {
                let _ = stdin.write_all(line.as_bytes()).await;
                // Dropping stdin closes it: the agent sees end of input.
            });
        }
        // The proxy's and the agent's own messages go to our stderr.
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_lines(out, Stream::Stderr, None, output.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward_lines(err, Stream::Stderr, None, output.clone()));
        }
        let tx = self.agent_tx.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = tx.send(AgentExit { index, status });
        });
        self.agents.push(Agent { nodes, pid, what, exited: false });
        Ok(())
    }

    /// Number of proxies.
    pub fn proxies(&self) -> usize {
        self.nodes.len() - 1
    }

    /// Host of a tree node.
    pub fn host(&self, node: u32) -> &str {
        self.nodes.get(node as usize).map(|n| n.host.as_str()).unwrap_or("?")
    }

    /// Hosts whose proxies have not joined yet.
    pub fn missing(&self) -> Vec<String> {
        self.nodes.iter().filter(|n| !n.joined).map(|n| n.host.clone()).collect()
    }

    /// Whether every proxy reported `Done` (or is gone).
    pub fn all_done(&self) -> bool {
        self.nodes.iter().skip(1).all(|n| n.done)
    }

    /// A connection finished its handshake (or failed it).
    pub fn on_accepted(&mut self, s: TcpStream, g: Result<Greeting>) -> Vec<RemoteEvent> {
        let g = match g {
            Ok(g) => g,
            Err(e) => {
                eprintln!("rmpirun: warning: rejected a proxy connection: {e:#}");
                return Vec::new();
            }
        };
        let node = g.node;
        if node == 0 || node as usize >= self.nodes.len() || self.nodes[node as usize].joined {
            eprintln!("rmpirun: warning: rejected a proxy claiming to be node {node}");
            return Vec::new();
        }
        let peer_ip = s.peer_addr().ok().map(|a| a.ip());
        if let Ok(local) = s.local_addr() {
            if self.local_ip.is_none() && !local.ip().is_loopback() {
                self.local_ip = Some(local.ip());
            }
        }
        let parent = tree_parent(node as usize, self.fanout as usize).unwrap_or(0);
        if let Some(ip) = peer_ip {
            self.nodes[node as usize].addr = Some((ip, g.port));
        }
        if parent == 0 {
            let id = self.next_id;
            self.next_id += 1;
            let link = establish(s, id, self.conn_tx.clone());
            link.send(&Msg::Welcome);
            self.children.insert(id, (node, link));
            self.joined(node)
        } else {
            self.parked.push((s, node));
            self.redirect_parked();
            Vec::new()
        }
    }

    /// Sends every parked proxy whose parent has joined to that parent.
    fn redirect_parked(&mut self) {
        let fanout = self.fanout as usize;
        let parked = std::mem::take(&mut self.parked);
        for (mut s, node) in parked {
            let parent = tree_parent(node as usize, fanout).unwrap_or(0);
            match self.nodes[parent].addr.filter(|_| self.nodes[parent].joined) {
                Some((ip, port)) => {
                    let frame = Msg::Redirect { addr: ip.to_string(), port }.encode();
                    tokio::spawn(async move {
                        let _ = s.write_all(&frame).await;
                        let _ = s.shutdown().await;
                    });
                }
                None => self.parked.push((s, node)),
            }
        }
    }

    fn joined(&mut self, node: u32) -> Vec<RemoteEvent> {
        if let Some(n) = self.nodes.get_mut(node as usize) {
            n.joined = true;
        }
        self.redirect_parked();
        if !self.all_joined && self.nodes.iter().all(|n| n.joined) {
            self.all_joined = true;
            return vec![RemoteEvent::AllJoined];
        }
        Vec::new()
    }

    /// Nodes of the subtree rooted at `node`.
    fn subtree(&self, node: u32) -> Vec<u32> {
        let n = self.nodes.len();
        let mut out = vec![node];
        let mut i = 0;
        while i < out.len() {
            let c = tree_children(out[i] as usize, n, self.fanout as usize);
            out.extend(c.map(|x| x as u32));
            i += 1;
        }
        out
    }

    fn lose(&mut self, node: u32, text: String) -> Vec<RemoteEvent> {
        let mut evs = Vec::new();
        for n in self.subtree(node) {
            if let Some(st) = self.nodes.get_mut(n as usize) {
                if !st.done {
                    st.done = true;
                    evs.push(RemoteEvent::Failed { text: text.clone() });
                }
            }
        }
        evs
    }

    /// An event of a direct child's connection.
    pub fn on_conn(&mut self, ev: ConnEvent) -> Vec<RemoteEvent> {
        match ev {
            ConnEvent::Msg(id, m) => {
                let from = self.children.get(&id).map(|c| c.0).unwrap_or(0);
                match m {
                    Msg::Joined { node, .. } => self.joined(node),
                    Msg::Done { node } => {
                        if let Some(n) = self.nodes.get_mut(node as usize) {
                            n.done = true;
                        }
                        vec![RemoteEvent::Up(Msg::Done { node })]
                    }
                    Msg::Lost { node, reason } => {
                        let host = self.host(node).to_string();
                        self.lose(node, format!("lost contact with the node proxy on {host} ({reason})"))
                    }
                    Msg::Warning { node, text } => {
                        eprintln!("rmpirun: proxy on {}: {text}", self.host(node));
                        Vec::new()
                    }
                    other => {
                        let _ = from;
                        vec![RemoteEvent::Up(other)]
                    }
                }
            }
            ConnEvent::Closed(id, why) => match self.children.remove(&id) {
                Some((node, _)) => {
                    let host = self.host(node).to_string();
                    self.lose(node, format!("lost contact with the node proxy on {host} ({why})"))
                }
                None => Vec::new(),
            },
        }
    }

    /// An agent process ended.
    pub fn on_agent_exit(&mut self, e: AgentExit) -> Vec<RemoteEvent> {
        let Some(a) = self.agents.get_mut(e.index) else { return Vec::new() };
        a.exited = true;
        let status = match &e.status {
            Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(s)) {
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                _ => "ended".to_string(),
            },
            Err(err) => format!("could not be waited for: {err}"),
        };
        let (nodes, what) = (a.nodes.clone(), a.what.clone());
        let mut evs = Vec::new();
        for n in nodes {
            let st = &self.nodes[n as usize];
            if !st.joined && !st.done {
                let text = format!("cannot start the node proxy on {}: `{what}` {status}", st.host);
                evs.extend(self.lose(n, text));
            }
        }
        evs
    }

    /// Sends a message to every direct child (and so down the whole tree).
    pub fn broadcast(&self, m: &Msg) {
        let frame = m.encode();
        for (_, link) in self.children.values() {
            link.send_frame(frame.clone());
        }
    }

    /// Ends the session: `Exit` down the tree, connections closed, agents
    /// reaped (or killed after `grace`).
    pub async fn shutdown(&mut self, grace: std::time::Duration) {
        self.broadcast(&Msg::Exit);
        for (_, link) in self.children.values() {
            link.close();
        }
        self.parked.clear();
        let deadline = tokio::time::Instant::now() + grace;
        while self.agents.iter().any(|a| !a.exited) {
            match tokio::time::timeout_at(deadline, self.agent_rx.recv()).await {
                Ok(Some(e)) => {
                    if let Some(a) = self.agents.get_mut(e.index) {
                        a.exited = true;
                    }
                }
                _ => break,
            }
        }
        for a in self.agents.iter().filter(|a| !a.exited) {
            if let Some(pid) = a.pid.and_then(|p| i32::try_from(p).ok()) {
                crate::spawn::kill_group(pid, libc::SIGKILL);
            }
        }
    }

    /// Starts the handshake of an accepted connection in its own task.
    pub fn admit(&self, s: TcpStream) {
        let (tx, secret) = (self.acc_tx.clone(), self.secret.clone());
        tokio::spawn(async move {
            let mut s = s;
            let g = server_handshake(&mut s, &secret).await;
            let _ = tx.send((s, g));
        });
    }
}

/// rmpirun's environment for remote ranks: everything but what belongs to
/// the host or to an outer launcher.
pub fn exported_env() -> Vec<(OsString, OsString)> {
    const SKIP: &[&str] =
        &["HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_", "DISPLAY", "TERMCAP", "RMPI_PROXY_SECRET", "MPIEXEC_TIMEOUT"];
    let skip_prefix = ["SLURM_", "SLURMD_", "PMI_", "PMIX_", "SSH_"];
    std::env::vars_os()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !SKIP.contains(&k.as_ref()) && !skip_prefix.iter().any(|p| k.starts_with(p))
        })
        .collect()
}

/// Hosts of tree nodes that have not reported `Done`.
pub fn unfinished(remote: &Remote) -> HashSet<String> {
    remote.nodes.iter().skip(1).filter(|n| !n.done).map(|n| n.host.clone()).collect()
}
