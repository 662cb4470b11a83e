//! Making and freeing windows (collective over the communicator), their
//! memory, and local queries.

use std::collections::VecDeque;

use rmpi_collectives::Collective;

use super::memory::{self, Memory};
use super::{parts, Flavor, Peer, TargetLock, Win, WinId, WinQuery};
use crate::api::{self, PROC_NULL};
use crate::comm::CommId;
use crate::error::{err, ErrorClass, MpiResult};
use crate::state::{block_on, with};

fn check_disp_unit(u: i64) -> MpiResult<usize> {
    if u <= 0 {
        return err(ErrorClass::Arg, format!("invalid displacement unit {u}"));
    }
    Ok(u as usize)
}

fn check_size(s: i64) -> MpiResult<usize> {
    if s < 0 {
        return err(ErrorClass::Size, format!("invalid window size {s}"));
    }
    Ok(s as usize)
}

/// Everything but the memory, agreed collectively over `comm`.
fn build(comm: CommId, flavor: Flavor, size: usize, disp_unit: usize) -> MpiResult<(Win, CommId)> {
    let wcomm = api::comm_dup(comm)?;
    let mut mine = (size as u64).to_le_bytes().to_vec();
    mine.extend_from_slice(&(disp_unit as u64).to_le_bytes());
    let all = match api::coll_blocking(wcomm, |r, n| Collective::allgather(r, n, mine, false)) {
        Ok(v) => v,
        Err(e) => {
            let _ = api::comm_free(wcomm);
            return Err(e);
        }
    };
    let peers: Vec<Peer> = all
        .chunks_exact(16)
        .map(|c| Peer {
            size: u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
            disp_unit: u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
            shared_base: 0,
        })
        .collect();
    with(|rt| {
        let c = rt.tables.comm(wcomm)?;
        let n = c.group.len();
        Ok((
            Win {
                comm: wcomm,
                ctx: c.ctx,
                group: c.group.clone(),
                rank: c.rank,
                flavor,
                _mem: Memory::None,
                base: 0,
                size,
                disp_unit,
                peers,
                regions: Vec::new(),
                incoming: VecDeque::new(),
                replies: Vec::new(),
                lock: TargetLock::default(),
                parked: vec![None; n],
                completes: vec![0; n],
                posts: vec![0; n],
                errors: vec![0; n],
                next_tag: super::wire::FIRST_REPLY_TAG,
                pending: Vec::new(),
                dirty: vec![false; n],
                fence_open: false,
                access: None,
                unposted: Vec::new(),
                exposure: None,
                locks: vec![None; n],
                lock_all: None,
                error: None,
            },
            wcomm,
        ))
    })
}

fn register(w: Win) -> MpiResult<WinId> {
    with(|rt| Ok(rt.rma.insert(w)))
}

/// `MPI_Win_create` over the caller's memory `base..base+size`.
///
/// # Safety
/// The memory must stay valid until the window is freed; remote processes
/// read and write it during RMA epochs (MPI's contract).
pub unsafe fn win_create(comm: CommId, base: *mut u8, size: i64, disp_unit: i64) -> MpiResult<WinId> {
    let size = check_size(size)?;
    let disp_unit = check_disp_unit(disp_unit)?;
    api::comm_size(comm)?;
    let (mut w, _) = build(comm, Flavor::Create, size, disp_unit)?;
    w.base = base as usize;
    register(w)
}

/// `MPI_Win_allocate`: the window's memory comes from the library (zeroed).
pub fn win_allocate(comm: CommId, size: i64, disp_unit: i64) -> MpiResult<(WinId, *mut u8)> {
    let size = check_size(size)?;
    let disp_unit = check_disp_unit(disp_unit)?;
    api::comm_size(comm)?;
    let mem = Memory::heap(size)?;
    let (mut w, _) = build(comm, Flavor::Allocate, size, disp_unit)?;
    w.base = mem.base();
    w._mem = mem;
    let base = w.base as *mut u8;
    Ok((register(w)?, base))
}

/// `MPI_Win_create_dynamic`: no memory until `win_attach`.
pub fn win_create_dynamic(comm: CommId) -> MpiResult<WinId> {
    api::comm_size(comm)?;
    let (w, _) = build(comm, Flavor::Dynamic, 0, 1)?;
    register(w)
}

/// `MPI_Win_allocate_shared`: every rank's part lies in one segment that
/// all ranks map (they must share a node), contiguous in rank order.
pub fn win_allocate_shared(comm: CommId, size: i64, disp_unit: i64) -> MpiResult<(WinId, *mut u8)> {
    let size = check_size(size)?;
    let disp_unit = check_disp_unit(disp_unit)?;
    api::comm_size(comm)?;
    let same_node = with(|rt| {
        let g = rt.tables.comm(comm)?.group.clone();
        let nodes = &rt.net.world.node_of_rank;
        Ok(g.iter().all(|&r| nodes[r as usize] == nodes[g[0] as usize]))
    })?;
    if !same_node {
        return err(ErrorClass::RmaShared, "the communicator spans more than one node: memory cannot be shared");
    }
    let (mut w, wcomm) = build(comm, Flavor::Shared, size, disp_unit)?;
    let total: u64 = w.peers.iter().map(|p| p.size).sum();
    let mut offsets = Vec::with_capacity(w.peers.len());
    let mut at = 0usize;
    for p in &w.peers {
        offsets.push(at);
        at += p.size as usize;
    }
    let mem = if w.peers.len() == 1 {
        Memory::heap(total as usize)
    } else if total == 0 {
        Ok(Memory::None)
    } else {
        let (jobid, creator, ctx) = with(|rt| Ok((rt.net.world.jobid.clone(), w.group[0], w.ctx)))?;
        let job: String = jobid.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let name = format!("rmpi-win-{job}-{creator}-{ctx}");
        let made = if w.rank == 0 { Some(memory::map_segment(&name, total as usize, true)) } else { None };
        api::barrier(wcomm)?;
        let mapped = match made {
            Some(m) => m,
            None => memory::map_segment(&name, total as usize, false),
        };
        api::barrier(wcomm)?;
        if w.rank == 0 {
            let _ = std::fs::remove_file(memory::segment_path(&name));
        }
        mapped
    };
    let mem = match mem {
        Ok(m) => m,
        Err(e) => {
            let _ = api::comm_free(wcomm);
            return Err(e);
        }
    };
    let seg = mem.base();
    if seg != 0 {
        for (p, off) in w.peers.iter_mut().zip(&offsets) {
            p.shared_base = seg + off;
        }
    }
    w.base = if size == 0 { 0 } else { seg + offsets[w.rank as usize] };
    w._mem = mem;
    let base = w.base as *mut u8;
    Ok((register(w)?, base))
}

/// `MPI_Win_shared_query`: `(base, size, disp_unit)` of `rank`'s part in
/// this process (`PROC_NULL`: the lowest rank with a nonzero size). Windows
/// that are not shared answer size 0 and a null base.
pub fn shared_query(id: WinId, rank: i32) -> MpiResult<(usize, u64, u64)> {
    with(|rt| {
        let w = rt.rma.win(id)?;
        let r = if rank == PROC_NULL {
            w.peers.iter().position(|p| p.size > 0).unwrap_or(0) as i32
        } else {
            w.check_rank(rank)?;
            rank
        };
        let p = w.peers[r as usize];
        if w.flavor != Flavor::Shared {
            return Ok((0, 0, p.disp_unit));
        }
        let base = if p.size == 0 { 0 } else { p.shared_base };
        Ok((base, p.size, p.disp_unit))
    })
}

/// `MPI_Win_attach`.
///
/// # Safety
/// The memory must stay valid until detached (MPI's contract).
pub unsafe fn win_attach(id: WinId, base: *mut u8, size: i64) -> MpiResult<()> {
    let size = check_size(size)?;
    with(|rt| {
        let w = rt.rma.win_mut(id)?;
        if w.flavor != Flavor::Dynamic {
            return err(ErrorClass::RmaFlavor, "MPI_Win_attach needs a window made by MPI_Win_create_dynamic");
        }
        let a = base as usize;
        if w.regions.iter().any(|&(b, n)| a < b + n && b < a + size) {
            return err(ErrorClass::RmaAttach, "the memory overlaps memory already attached");
        }
        w.regions.push((a, size));
        Ok(())
    })
}

/// `MPI_Win_detach`.
pub fn win_detach(id: WinId, base: *const u8) -> MpiResult<()> {
    with(|rt| {
        let w = rt.rma.win_mut(id)?;
        if w.flavor != Flavor::Dynamic {
            return err(ErrorClass::RmaFlavor, "MPI_Win_detach needs a window made by MPI_Win_create_dynamic");
        }
        match w.regions.iter().position(|&(b, _)| b == base as usize) {
            Some(i) => {
                w.regions.remove(i);
                Ok(())
            }
            None => err(ErrorClass::RmaAttach, format!("no memory attached at {base:p}")),
        }
    })
}

/// The local facts of a window.
pub fn win_query(id: WinId) -> MpiResult<WinQuery> {
    with(|rt| {
        let w = rt.rma.win(id)?;
        Ok(WinQuery { base: w.base, size: w.size, disp_unit: w.disp_unit, flavor: w.flavor, comm: w.comm })
    })
}

/// `MPI_Win_free` (collective): completes this rank's operations, waits
/// until no rank targets this one any more, then releases everything.
pub fn win_free(id: WinId) -> MpiResult<()> {
    let comm = with(|rt| {
        let (net, w) = parts(rt, id)?;
        if w.locks.iter().any(|l| l.is_some()) || w.lock_all.is_some() {
            return err(ErrorClass::RmaSync, "the window is still locked");
        }
        if w.access.is_some() || w.exposure.is_some() {
            return err(ErrorClass::RmaSync, "a post/start epoch of the window is still open");
        }
        let all = w.all_ranks();
        w.flush_requests(net, &all)?;
        Ok(w.comm)
    })?;
    block_on(|rt| Ok(rt.rma.win(id)?.pending.is_empty().then_some(())))?;
    api::barrier(comm)?;
    block_on(|rt| {
        let w = rt.rma.win(id)?;
        Ok((w.incoming.is_empty() && w.replies.is_empty()).then_some(()))
    })?;
    with(|rt| {
        let w = rt.rma.wins[id.0 as usize].take().expect("checked above");
        rt.rma.live -= 1;
        rt.tables.free_comm(w.comm)
    })
}
