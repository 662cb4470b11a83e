//! Start-up and shut-down: PMI (or singleton), locality, transports and
//! business cards.
//!
//! Order: PMI from the launcher (`PMI_FD`), else a singleton (rank 0 of 1).
//! The launcher's process mapping tells which ranks share this node. Each
//! rank creates its shared-memory segment (if it has local peers) and its
//! TCP listener (if some peer is remote, or TCP is forced), publishes their
//! cards, fences, attaches its local peers' segments, fences again, and
//! unlinks its own segment, so a crash leaves nothing in /dev/shm. TCP
//! peers are contacted lazily on first send.

use std::time::Duration;

use rmpi_engine::{Engine, EngineConfig};
use rmpi_pmi::{parse_process_mapping, PmiClient};
use rmpi_transports::cma;
use rmpi_transports::shm::{ShmConfig, ShmTransport};
use rmpi_transports::tcp::{TcpConfig, TcpTransport};

use crate::comm::Tables;
use crate::error::{ErrorClass, MpiError, MpiResult};
use crate::net::{shm_card_key, tcp_card_key, Net, World};
use crate::router::Router;
use crate::state::{Requests, Runtime, ThreadLevel};

fn pmi_err(what: &str) -> impl Fn(rmpi_pmi::PmiError) -> MpiError + '_ {
    move |e| MpiError::new(ErrorClass::Other, format!("PMI {what} failed: {e}"))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Smallest message whose single copy the sender shares by default.
const SPLIT_COPY_MIN: u64 = 32 << 10;

/// The split copy's threshold and the sender's share (in 1/1024):
/// `RMPI_SPLIT_COPY` = 0 (off) or the smallest message split, in bytes;
/// `RMPI_SPLIT_SHARE` = the sender's share. By default on from
/// [`SPLIT_COPY_MIN`] unless ranks outnumber cores (a sender waiting for
/// a core would only delay the receiver).
fn split_copy_settings(oversubscribed: bool) -> (u64, u32, u64) {
    let min = match env_u64("RMPI_SPLIT_COPY") {
        Some(v) => v,
        None if oversubscribed => 0,
        None => SPLIT_COPY_MIN,
    };
    let share = env_u64("RMPI_SPLIT_SHARE").map_or(512, |v| v.clamp(1, 1023) as u32);
    let busy_min = env_u64("RMPI_SPLIT_BUSY_MIN").unwrap_or(u64::MAX);
    (min, share, busy_min)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// Cores this node's ranks may run on together. A rank bound to its own
/// core sees only that core, so the launcher's count comes first:
/// `RMPI_NODE_CPUS` (rmpirun sets it when it binds), then
/// `SLURM_CPUS_ON_NODE` (srun; capped by the CPUs online, since a test
/// cluster may declare more than the machine has), then this process's own
/// affinity.
fn usable_cores() -> usize {
    let own = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if let Some(n) = env_u64("RMPI_NODE_CPUS").filter(|&n| n > 0) {
        return n as usize;
    }
    if let Some(n) = env_u64("SLURM_CPUS_ON_NODE").filter(|&n| n > 0) {
        // SAFETY: sysconf has no preconditions.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        let online = if online > 0 { online as usize } else { own };
        return (n as usize).min(online).max(own);
    }
    own
}

/// Build the runtime for this process.
pub(crate) fn start(level: ThreadLevel) -> MpiResult<Runtime> {
    let mut pmi = PmiClient::from_env().map_err(pmi_err("connect"))?;
    if pmi.is_none() {
        let tasks = env_u64("SLURM_STEP_NUM_TASKS").or_else(|| env_u64("SLURM_NTASKS")).unwrap_or(1);
        if tasks > 1 && std::env::var_os("SLURM_STEP_ID").is_some() {
            return Err(MpiError::new(
                ErrorClass::Other,
                format!(
                    "this task was started by srun as one of {tasks} tasks, but Slurm gave it no PMI; \
                     run it with `srun --mpi=pmi2` (or set MpiDefault=pmi2 in slurm.conf)"
                ),
            ));
        }
    }
    let (rank, size, jobid) = match &pmi {
        Some(p) => (p.rank(), p.size(), p.jobid().to_string()),
        None => (0, 1, format!("singleton-{}", std::process::id())),
    };
    let node_of_rank = match pmi.as_mut() {
        Some(p) if size > 1 => match p.process_mapping().map_err(pmi_err("process mapping"))? {
            Some(m) => parse_process_mapping(&m, size).map_err(pmi_err("process mapping parse"))?,
            None => vec![0; size as usize],
        },
        _ => vec![0; size as usize],
    };
    let on_one_host = node_of_rank.iter().all(|&n| n == node_of_rank[0]);
    let node_of_rank = crate::nodemap::from_env(size)?.unwrap_or(node_of_rank);
    let world = World { rank, size, node_of_rank, jobid: jobid.clone() };
    let local = world.local_ranks();
    let force_tcp = std::env::var("RMPI_TRANSPORT").map(|v| v.eq_ignore_ascii_case("tcp")).unwrap_or(false);
    let force_ofi = crate::ofi::forced();
    let secret = std::env::var("RMPI_JOB_SECRET")
        .ok()
        .and_then(|s| decode_hex(&s))
        .unwrap_or_else(|| format!("rmpi-job-{jobid}").into_bytes());

    let tr = |e: rmpi_transports::TransportError| MpiError::new(ErrorClass::Other, format!("transport setup: {e}"));
    let ofi = crate::ofi::open(rank, size, &secret, local.len() < size as usize)?;
    let mut shm = if !force_tcp && !force_ofi && local.len() > 1 {
        Some(ShmTransport::create(ShmConfig { job: jobid.clone(), rank, local_ranks: local.clone() }).map_err(tr)?)
    } else {
        None
    };
    let tcp = if size > 1 && !force_ofi && (force_tcp || local.len() < size as usize) {
        Some(
            TcpTransport::bind(TcpConfig { rank, job: jobid.clone(), secret, loopback_only: on_one_host })
                .map_err(tr)?,
        )
    } else {
        None
    };

    let shm_peers: Vec<u32> =
        if shm.is_some() { local.iter().copied().filter(|&r| r != rank).collect() } else { vec![] };
    if let Some(p) = pmi.as_mut().filter(|_| size > 1) {
        if let Some(s) = &shm {
            p.put_split(&shm_card_key(rank), &s.card()).map_err(pmi_err("put"))?;
        }
        if let Some(t) = &tcp {
            p.put_split(&tcp_card_key(rank), &t.card()).map_err(pmi_err("put"))?;
        }
        if let Some(o) = &ofi {
            crate::ofi::put_card(p, rank, &o.card())?;
        }
        p.fence().map_err(pmi_err("fence"))?;
        if let Some(s) = shm.as_mut() {
            // One pipelined batch: a node of N ranks asks for N*(N-1) cards.
            let keys: Vec<String> = shm_peers.iter().map(|&peer| shm_card_key(peer)).collect();
            let cards = p.get_split_many(&keys).map_err(pmi_err("get"))?;
            for (&peer, card) in shm_peers.iter().zip(cards) {
                let card =
                    card.ok_or_else(|| MpiError::new(ErrorClass::Other, format!("rank {peer} published no shm card")))?;
                s.attach(peer, &card).map_err(tr)?;
            }
        }
        // Every local rank has mapped every segment: unlink ours.
        p.fence().map_err(pmi_err("fence"))?;
        if let Some(s) = shm.as_mut() {
            s.unlink().map_err(tr)?;
        }
    }

    // Single-copy reads: by cross-memory attach on this node, by fi_read
    // over an ofi provider with RMA (a failed read falls back to streaming).
    let single_copy_ok = cma::probe() || ofi.as_ref().is_some_and(|o| o.rma_read_capable());
    let mut engine = Engine::new(
        rank,
        size,
        EngineConfig {
            eager_window: env_u64("RMPI_EAGER_WINDOW").unwrap_or(1 << 20),
            pid: std::process::id() as u64,
            single_copy_ok,
        },
    );
    let mut router = Router::new(rank, size, shm, tcp);
    router.set_ofi(ofi);
    for &peer in &shm_peers {
        router.set_shm(&mut engine, peer);
    }
    let oversubscribed = local.len() > usable_cores();
    let (split_min, split_share, split_busy_min) = split_copy_settings(oversubscribed);
    engine.set_split_copy(split_min, split_share, split_busy_min);
    // Oversubscribed ranks also wait 50 us before sleeping, but yield their
    // core at every round (state.rs): a rank woken from sleep may wait a
    // whole time slice for a core, so sleeping at once made an 8-rank
    // barrier on 2 cores about twice as slow.
    // Ranks whose peers are all over TCP spin too: on a quiet machine 8-byte
    // latency over a veth between two namespaces was 41 us with a rank
    // sleeping at once (the wake-up dominates) against the peers' 6.5 us
    // spinning; on a machine loaded by builds sleeping at once was faster
    // (16 against 29 us), but a dedicated node is the case that counts.
    let spin_us = env_u64("RMPI_SPIN_US").unwrap_or(50);
    Ok(Runtime {
        net: Net { engine, router, pmi, world },
        tables: Tables::new(rank, size),
        reqs: Requests::default(),
        thread_level: level,
        spin: Duration::from_micros(spin_us),
        oversubscribed,
        sleepers: 0,
        colls_in_flight: 0,
        rma: Default::default(),
        next_cpu_check: std::time::Instant::now(),
        done_without_progress: 0,
    })
}

/// Tell the launcher this rank finished cleanly. With TCP in use (then on
/// every rank: a job either spans nodes or forces TCP everywhere), fence
/// first so no rank closes its sockets while a peer still reads from them.
pub(crate) fn stop(rt: &mut Runtime) -> MpiResult<()> {
    let uses_tcp = rt.net.router.tcp.is_some() || rt.net.router.ofi.is_some();
    crate::ofi::report(rt.net.world.rank, rt.net.router.ofi.as_ref());
    if let Some(p) = rt.net.pmi.as_mut() {
        if uses_tcp {
            p.fence().map_err(pmi_err("fence"))?;
        }
        p.finalize().map_err(pmi_err("finalize"))?;
    }
    Ok(())
}
