//! The node proxy: `rmpirun --proxy ...`, started on every remote host by
//! ssh, by the `--launcher-exec` agent, or by srun.
//!
//! It reads the job secret (environment `RMPI_PROXY_SECRET`, else the first
//! line of stdin), connects to rmpirun over TCP and proves the secret
//! (`crate::conn`); rmpirun either keeps it as a child or redirects it to
//! its parent in the proxy tree. It then waits for the job's plan, passes it
//! to its own children, starts its host's ranks ([`LocalNode`]), and from
//! then on:
//!
//! * sends up its ranks' output lines (already tagged), PMI events and
//!   exits, and relays whatever its children send up;
//! * takes part in the tree fence ([`rmpi_pmi::tree::TreeFence`]): its
//!   ranks' puts and its children's go up as one `FenceIn`; the merged set
//!   comes down as `FenceOut`, is committed and passed on;
//! * passes signals, stdin and the final `Exit` down.
//!
//! When the connection to its parent breaks, or it gets SIGINT/SIGTERM/
//! SIGHUP, it kills its ranks (SIGKILL to the job's process group and to
//! each rank) and exits; its children see their parent go and do the same,
//! so nothing is left on any host.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rmpi_pmi::tree::{decode_delta, encode_delta, tree_children, tree_parent, FenceStep, TreeFence};
use rmpi_pmi::{JobInfo, ServerEvent};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::conn::{client_handshake, establish, server_handshake, ConnEvent, Greeting, Link};
use crate::node::{LocalNode, NodeEvent, NodePlan, SpawnError, StdinSource};
use crate::stdio::{OutputChunk, Stream};
use crate::wire::{Msg, Plan, RankExit};

/// The parent connection's id in the connection event stream.
const PARENT: usize = 0;
/// How long after its ranks exited a proxy waits for their output pipes.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// `rmpirun --proxy` arguments.
#[derive(Debug, Clone)]
pub struct ProxyArgs {
    /// Tree node id (0 = rmpirun); `None`: from `SLURM_NODEID` + 1.
    pub node: Option<u32>,
    /// Tree fan-out.
    pub fanout: u32,
    /// rmpirun's addresses (`ip,ip,...:port`).
    pub root: String,
    /// Host name as rmpirun knows it (for messages).
    pub host: String,
}

/// Parses `rmpirun --proxy --node N|--slurm-node --fanout K --root A,B:PORT --host H`.
pub fn parse_args(args: &[String]) -> Result<ProxyArgs> {
    let mut p = ProxyArgs { node: None, fanout: 32, root: String::new(), host: String::new() };
    let mut it = args.iter();
    let mut slurm = false;
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--proxy" => {}
            "--node" => p.node = Some(val()?.parse().context("--node")?),
            "--slurm-node" => slurm = true,
            "--fanout" => p.fanout = val()?.parse().context("--fanout")?,
            "--root" => p.root = val()?,
            "--host" => p.host = val()?,
            other => bail!("unknown proxy argument {other:?}"),
        }
    }
    if slurm {
        let id: u32 = std::env::var("SLURM_NODEID")
            .context("--slurm-node needs SLURM_NODEID")?
            .parse()
            .context("SLURM_NODEID")?;
        p.node = Some(id + 1);
        if p.host.is_empty() {
            p.host = std::env::var("SLURMD_NODENAME").unwrap_or_default();
        }
    }
    if p.node.is_none() || p.root.is_empty() {
        bail!("--proxy needs --node (or --slurm-node) and --root");
    }
    if p.host.is_empty() {
        p.host = crate::hosts::local_hostname();
    }
    Ok(p)
}

fn root_addrs(spec: &str) -> Result<Vec<SocketAddr>> {
    let (ips, port) = spec.rsplit_once(':').context("--root must be ADDR[,ADDR...]:PORT")?;
    let port: u16 = port.parse().context("--root port")?;
    let mut out = Vec::new();
    for ip in ips.split(',').filter(|s| !s.is_empty()) {
        out.extend((ip, port).to_socket_addrs().with_context(|| format!("--root address {ip:?}"))?);
    }
    Ok(out)
}

fn read_secret() -> Result<String> {
    if let Some(s) = std::env::var_os("RMPI_PROXY_SECRET") {
        std::env::remove_var("RMPI_PROXY_SECRET");
        return Ok(s.to_string_lossy().trim().to_string());
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the job secret from stdin")?;
    let s = line.trim().to_string();
    if s.is_empty() {
        bail!("no job secret (RMPI_PROXY_SECRET or a first line on stdin)");
    }
    Ok(s)
}

/// Runs the proxy; returns its exit status.
pub fn main(args: &[String]) -> i32 {
    let run = || -> Result<i32> {
        let args = parse_args(args)?;
        let secret = read_secret()?;
        crate::spawn::raise_fd_limit();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
        let host = args.host.clone();
        let r = rt.block_on(Proxy::run(args, secret));
        drop(rt);
        r.with_context(|| format!("proxy on {host}"))
    };
    match run() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rmpirun: error: {e:#}");
            1
        }
    }
}

/// Connects to rmpirun (trying each address), is welcomed or redirected.
async fn join_tree(args: &ProxyArgs, node: u32, secret: &str, port: u16) -> Result<TcpStream> {
    let hostname = crate::hosts::local_hostname();
    let mut errors = Vec::new();
    for addr in root_addrs(&args.root)? {
        let mut s = match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                errors.push(format!("{addr}: {e}"));
                continue;
            }
            Err(_) => {
                errors.push(format!("{addr}: connect timed out"));
                continue;
            }
        };
        match client_handshake(&mut s, node, secret, port, &hostname).await {
            Ok(Msg::Welcome) => return Ok(s),
            Ok(Msg::Redirect { addr: pa, port: pp }) => {
                let target: SocketAddr = format!("{pa}:{pp}")
                    .parse()
                    .or_else(|_| (pa.as_str(), pp).to_socket_addrs().map(|mut i| i.next().expect("resolved")))
                    .with_context(|| format!("parent address {pa}:{pp}"))?;
                let mut ps = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(target))
                    .await
                    .with_context(|| format!("connecting to the parent proxy at {target}: timed out"))?
                    .with_context(|| format!("connecting to the parent proxy at {target}"))?;
                match client_handshake(&mut ps, node, secret, port, &hostname).await? {
                    Msg::Welcome => return Ok(ps),
                    other => bail!("the parent proxy at {target} answered {other:?}"),
                }
            }
            Ok(other) => errors.push(format!("{addr}: unexpected answer {other:?}")),
            Err(e) => errors.push(format!("{addr}: {e:#}")),
        }
    }
    bail!("cannot join the job: {}", errors.join("; "))
}

struct Child {
    node: u32,
    link: Link,
}

struct Proxy {
    me: u32,
    host: String,
    parent: Link,
    /// Children by connection id.
    children: HashMap<usize, Child>,
    plan: Option<Plan>,
    node: Option<LocalNode>,
    fence: Option<TreeFence>,
    stdin_tx: Option<std::sync::mpsc::Sender<Vec<u8>>>,
    output_drained: bool,
    drain_deadline: Option<tokio::time::Instant>,
    done_sent: bool,
    exiting: bool,
    local_ip: Option<std::net::IpAddr>,
}

impl Proxy {
    async fn run(args: ProxyArgs, secret: String) -> Result<i32> {
        let me = args.node.expect("checked by parse_args");
        let listener = TcpListener::bind(("0.0.0.0", 0)).await.context("listening for child proxies")?;
        let port = listener.local_addr()?.port();
        let stream = join_tree(&args, me, &secret, port).await?;
        let local_ip = stream.local_addr().ok().map(|a| a.ip());
        let (conn_tx, mut conn_rx) = mpsc::unbounded_channel();
        let parent = establish(stream, PARENT, conn_tx.clone());

        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        let (acc_tx, mut acc_rx) = mpsc::unbounded_channel::<(TcpStream, Result<Greeting>)>();
        let (in_tx, mut in_rx) = mpsc::unbounded_channel();
        let (drained_tx, mut drained_rx) = mpsc::unbounded_channel::<()>();
        let mut next_id = PARENT + 1;
        let mut p = Proxy {
            me,
            host: args.host.clone(),
            parent,
            children: HashMap::new(),
            plan: None,
            node: None,
            fence: None,
            stdin_tx: None,
            output_drained: false,
            drain_deadline: None,
            done_sent: false,
            exiting: false,
            local_ip,
        };
        let fanout = args.fanout as usize;
        loop {
            if p.exiting {
                break;
            }
            tokio::select! {
                acc = listener.accept() => {
                    let Ok((mut s, _)) = acc else { continue };
                    let (tx, secret) = (acc_tx.clone(), secret.clone());
                    tokio::spawn(async move {
                        let g = server_handshake(&mut s, &secret).await;
                        let _ = tx.send((s, g));
                    });
                }
                Some((s, g)) = acc_rx.recv() => match g {
                    Ok(g) if tree_parent(g.node as usize, fanout) == Some(me as usize) => {
                        let link = establish(s, next_id, conn_tx.clone());
                        link.send(&Msg::Welcome);
                        p.parent.send(&Msg::Joined { node: g.node, hostname: g.hostname });
                        p.children.insert(next_id, Child { node: g.node, link });
                        next_id += 1;
                    }
                    Ok(g) => p.warn(format!("node {} tried to join through the wrong parent", g.node)),
                    Err(e) => p.warn(format!("{e:#}")),
                },
                Some(ev) = conn_rx.recv() => match ev {
                    ConnEvent::Msg(PARENT, m) => p.on_down(m, &in_tx, &drained_tx),
                    ConnEvent::Closed(PARENT, why) => {
                        if !p.exiting {
                            eprintln!("rmpirun: proxy on {}: lost the launcher ({why}); killing my ranks", p.host);
                        }
                        p.exiting = true;
                    }
                    ConnEvent::Msg(id, m) => p.on_up(id, m),
                    ConnEvent::Closed(id, why) => {
                        if let Some(c) = p.children.remove(&id) {
                            p.parent.send(&Msg::Lost { node: c.node, reason: why });
                        }
                    }
                },
                Some(input) = in_rx.recv() => {
                    let evs = match p.node.as_mut() { Some(n) => n.handle(input), None => Vec::new() };
                    p.on_node_events(evs);
                }
                Some(()) = drained_rx.recv() => p.output_drained = true,
                _ = tokio::time::sleep_until(p.drain_deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if p.drain_deadline.is_some() && !p.output_drained => {
                    p.warn("output of finished ranks still open after 2 s (a stray process holds it?)".into());
                    if let Some(pgid) = p.node.as_ref().and_then(LocalNode::pgid) {
                        crate::spawn::kill_group(pgid, libc::SIGKILL);
                    }
                    p.output_drained = true;
                }
                _ = sigint.recv() => p.exiting = true,
                _ = sigterm.recv() => p.exiting = true,
                _ = sighup.recv() => p.exiting = true,
            }
            p.maybe_done();
        }
        // Leaving: nothing of ours may survive.
        if let Some(node) = &p.node {
            node.signal_all(libc::SIGKILL);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while node_running(&p.node) > 0 {
                match tokio::time::timeout_at(deadline, in_rx.recv()).await {
                    Ok(Some(input)) => {
                        if let Some(n) = p.node.as_mut() {
                            n.handle(input);
                        }
                    }
                    _ => break,
                }
            }
            if let Some(pgid) = p.node.as_ref().and_then(LocalNode::pgid) {
                crate::spawn::kill_group(pgid, libc::SIGKILL);
            }
        }
        for c in p.children.values() {
            c.link.close();
        }
        p.parent.close();
        // Wait for the writer tasks to flush the last frames (bounded: a
        // peer that stopped reading must not keep this proxy alive).
        let flushed = async {
            p.parent.flushed().await;
            for c in p.children.values() {
                c.link.flushed().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), flushed).await;
        Ok(0)
    }

    fn warn(&self, text: String) {
        self.parent.send(&Msg::Warning { node: self.me, text });
    }

    fn on_down(
        &mut self,
        m: Msg,
        in_tx: &mpsc::UnboundedSender<crate::node::NodeInput>,
        drained_tx: &mpsc::UnboundedSender<()>,
    ) {
        match m {
            Msg::Plan(plan) => {
                let frame = Msg::Plan(plan.clone()).encode();
                for c in self.children.values() {
                    c.link.send_frame(frame.clone());
                }
                self.start(*plan, in_tx, drained_tx);
            }
            Msg::FenceOut { delta } => {
                let frame = Msg::FenceOut { delta: delta.clone() }.encode();
                for c in self.children.values() {
                    c.link.send_frame(frame.clone());
                }
                match decode_delta(&delta) {
                    Ok(merged) => {
                        let evs = match self.node.as_mut() {
                            Some(n) => n.complete_fence(merged),
                            None => Vec::new(),
                        };
                        self.on_node_events(evs);
                    }
                    Err(e) => self.warn(format!("bad fence data from the launcher: {e}")),
                }
            }
            Msg::Signal { sig } => {
                self.broadcast(&Msg::Signal { sig });
                if let Some(n) = &self.node {
                    if sig == libc::SIGUSR1 || sig == libc::SIGUSR2 {
                        n.signal_each(sig);
                    } else {
                        n.signal_all(sig);
                    }
                }
            }
            Msg::Stdin { bytes } => {
                self.broadcast(&Msg::Stdin { bytes: bytes.clone() });
                if let Some(tx) = &self.stdin_tx {
                    if bytes.is_empty() {
                        self.stdin_tx = None;
                    } else {
                        let _ = tx.send(bytes);
                    }
                }
            }
            Msg::Exit => {
                self.broadcast(&Msg::Exit);
                self.exiting = true;
            }
            other => self.warn(format!("unexpected message from the launcher: {other:?}")),
        }
    }

    fn broadcast(&self, m: &Msg) {
        let frame = m.encode();
        for c in self.children.values() {
            c.link.send_frame(frame.clone());
        }
    }

    /// A message from a child: fence input is combined, the rest relayed.
    fn on_up(&mut self, id: usize, m: Msg) {
        match m {
            Msg::FenceIn { delta } => match decode_delta(&delta) {
                Ok(d) => {
                    let step = match self.fence.as_mut() {
                        Some(f) => f.child_ready(d),
                        None => {
                            let node = self.children.get(&id).map(|c| c.node).unwrap_or(0);
                            self.warn(format!("fence data from node {node} before the plan"));
                            FenceStep::Wait
                        }
                    };
                    self.fence_step(step);
                }
                Err(e) => self.warn(format!("bad fence data from a child: {e}")),
            },
            other => self.parent.send(&other),
        }
    }

    fn fence_step(&mut self, step: FenceStep) {
        match step {
            FenceStep::Wait => {}
            FenceStep::SendUp(d) => self.parent.send(&Msg::FenceIn { delta: encode_delta(&d) }),
            FenceStep::Complete(_) => self.warn("a proxy completed a fence as if it were the root".into()),
        }
    }

    fn start(
        &mut self,
        plan: Plan,
        in_tx: &mpsc::UnboundedSender<crate::node::NodeInput>,
        drained_tx: &mpsc::UnboundedSender<()>,
    ) {
        let n_nodes = plan.node_ranks.len();
        let ranks = plan.node_ranks.get(self.me as usize).cloned().unwrap_or_default();
        let fanout = plan.fanout as usize;
        self.fence =
            Some(TreeFence::new(tree_children(self.me as usize, n_nodes, fanout).len(), !ranks.is_empty(), false));
        let mut extra_env = Vec::new();
        let user_sets_if = plan.user_env.iter().chain(&plan.base_env).any(|(k, _)| k == "RMPI_TCP_IF");
        if let Some(ip) = self.local_ip.filter(|ip| !ip.is_loopback() && !user_sets_if) {
            extra_env.push(("RMPI_TCP_IF".to_string(), ip.to_string()));
        }
        let node_plan = NodePlan {
            ranks: ranks.clone(),
            job: JobInfo {
                jobid: plan.jobid.clone(),
                size: plan.size,
                universe_size: plan.size,
                appnum: 0,
                process_mapping: plan.mapping.clone(),
            },
            program: plan.program.clone(),
            args: plan.args.clone(),
            base_env: plan.base_env.clone(),
            user_env: plan.user_env.clone(),
            extra_env,
            wdir: plan.wdir.clone().map(Into::into),
            secret: plan.secret.clone(),
            tag_output: plan.tag_output,
            bind: crate::bind::BindPolicy::from_wire(plan.bind),
            report_bindings: plan.report_bindings,
            stdin: StdinSource::Caller,
        };
        // Output lines go up in order; when every forwarder has ended, the
        // relay tells the loop.
        let (out_tx, mut out_rx) = mpsc::channel::<OutputChunk>(1024);
        let parent = self.parent.clone();
        let drained = drained_tx.clone();
        tokio::spawn(async move {
            while let Some(c) = out_rx.recv().await {
                parent.send(&Msg::Output { stderr: c.stream == Stream::Stderr, bytes: c.bytes });
            }
            let _ = drained.send(());
        });
        let (mut node, err) = LocalNode::start(&node_plan, in_tx.clone(), &out_tx);
        drop(out_tx);
        if let Some(SpawnError { rank, error, .. }) = err {
            self.parent.send(&Msg::SpawnFailed {
                rank,
                not_found: error.kind() == std::io::ErrorKind::NotFound,
                error: error.to_string(),
            });
        }
        if let Some(fd) = node.take_stdin() {
            self.stdin_tx = Some(stdin_writer(fd));
        }
        self.node = Some(node);
        self.plan = Some(plan);
        // A proxy whose plan gives it no rank is done at once.
        if ranks.is_empty() {
            self.output_drained = true;
        }
    }

    fn on_node_events(&mut self, evs: Vec<NodeEvent>) {
        for ev in evs {
            match ev {
                NodeEvent::Pmi(ServerEvent::Initialized { rank, .. }) => self.parent.send(&Msg::Initialized { rank }),
                NodeEvent::Pmi(ServerEvent::Finalized { rank }) => self.parent.send(&Msg::Finalized { rank }),
                NodeEvent::Pmi(ServerEvent::Aborted { rank, code, msg }) => {
                    self.parent.send(&Msg::Aborted { rank, code, msg })
                }
                NodeEvent::Pmi(ServerEvent::ProtocolError { rank, detail }) => {
                    self.parent.send(&Msg::ProtocolError { rank, detail })
                }
                NodeEvent::FenceGathered(delta) => {
                    let step = match self.fence.as_mut() {
                        Some(f) => f.local_ready(delta),
                        None => FenceStep::Wait,
                    };
                    self.fence_step(step);
                }
                NodeEvent::Exited { rank, pid, status } => {
                    use std::os::unix::process::ExitStatusExt;
                    let how = match status {
                        Ok(s) => match s.signal() {
                            Some(sig) => RankExit::Signal(sig),
                            None => RankExit::Code(s.code().unwrap_or(1)),
                        },
                        Err(e) => RankExit::WaitError(e.to_string()),
                    };
                    self.parent.send(&Msg::Exited { rank, pid, how });
                }
            }
        }
    }

    /// Reports `Done` once every rank exited and its output went up (or
    /// [`OUTPUT_DRAIN`] passed: a stray process may hold the pipes).
    fn maybe_done(&mut self) {
        if self.done_sent || self.plan.is_none() || node_running(&self.node) > 0 {
            return;
        }
        if !self.output_drained {
            if self.drain_deadline.is_none() {
                self.drain_deadline = Some(tokio::time::Instant::now() + OUTPUT_DRAIN);
            }
            return;
        }
        self.done_sent = true;
        self.parent.send(&Msg::Done { node: self.me });
    }
}

fn node_running(node: &Option<LocalNode>) -> usize {
    node.as_ref().map(LocalNode::running).unwrap_or(0)
}

/// A thread writing rank 0's stdin (blocking writes must not stall the loop).
fn stdin_writer(fd: OwnedFd) -> std::sync::mpsc::Sender<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let _ = std::thread::Builder::new().name("rmpirun-proxy-stdin".into()).spawn(move || {
        if crate::stdio::set_blocking(&fd).is_err() {
            return;
        }
        let mut f = std::fs::File::from(fd);
        while let Ok(bytes) = rx.recv() {
            if f.write_all(&bytes).is_err() {
                return;
            }
        }
    });
    tx
}
