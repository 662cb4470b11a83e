//! Intercommunicators: `MPI_Intercomm_create` and `_merge`, remote size and
//! group, and the queries that differ on them. An intercommunicator is a
//! runtime communicator whose peers are the remote group (so point-to-point
//! ranks address the remote group) on a context slot both groups agreed on,
//! plus, kept here, a private duplicate of the local intracommunicator.
//! Their collectives are schedules over both groups (`coll`).

use std::ffi::c_int;

use rmpi_runtime::api;
use rmpi_runtime::ops::{PredefOp, Prim};
use rmpi_runtime::CommId;

use crate::consts::*;
use crate::errors::out;
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{comm_handle, comm_id, group_handle, st};

/// What the ABI keeps about an intercommunicator.
#[derive(Debug, Clone)]
pub struct Inter {
    /// Private duplicate of the local group's intracommunicator.
    pub local: CommId,
    /// World ranks of the local and remote groups.
    pub local_world: Vec<u32>,
    pub remote_world: Vec<u32>,
}

/// Tag reserved for the leaders' exchanges over an intercommunicator.
pub(crate) const LEADER_TAG: c_int = i32::MAX - 7;

/// The intercommunicator data of `comm`, if it is one.
pub fn inter(comm: MpiComm) -> Option<Inter> {
    st().inters.get(&comm).cloned()
}

pub(crate) fn mask_bytes(m: &[u64]) -> Vec<u8> {
    m.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

pub(crate) fn bytes_mask(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().expect("8"))).collect()
}

pub(crate) fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().expect("4"))).collect()
}

/// AND of every local process's free-slot mask.
pub(crate) fn local_mask(local: CommId) -> AbiResult<Vec<u64>> {
    let m = mask_bytes(&api::context_free_mask()?);
    let mut o = vec![0u8; m.len()];
    api::allreduce(&m, &mut o, api::predefined_op(PredefOp::Band, Prim::U64)?, local)?;
    Ok(bytes_mask(&o))
}

pub(crate) fn lowest(m: &[u64]) -> AbiResult<usize> {
    m.iter()
        .enumerate()
        .find(|(_, w)| **w != 0)
        .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
        .ok_or_else(|| crate::errors::AbiError { code: class::INTERN, msg: "out of communicator context ids".into() })
}

/// The leader sends `mine` to the other group's leader and receives theirs
/// (over `via`, addressing `peer`); every local process gets the reply.
pub(crate) fn leader_swap(
    local: CommId,
    leader: c_int,
    via: CommId,
    peer: c_int,
    tag: c_int,
    mine: &[u8],
) -> AbiResult<Vec<u8>> {
    let me = api::comm_rank(local)?;
    let mut len = [0u8; 8];
    let mut reply = Vec::new();
    if me == leader {
        let mut theirs = [0u8; 8];
        api::sendrecv(&(mine.len() as u64).to_ne_bytes(), peer, tag, &mut theirs, peer, tag, via)?;
        reply = vec![0u8; u64::from_ne_bytes(theirs) as usize];
        api::sendrecv(mine, peer, tag, &mut reply, peer, tag, via)?;
        len = theirs;
    }
    api::bcast(&mut len, leader, local)?;
    reply.resize(u64::from_ne_bytes(len) as usize, 0);
    api::bcast(&mut reply, leader, local)?;
    Ok(reply)
}

fn world_ranks(c: CommId) -> AbiResult<Vec<u32>> {
    let n = api::comm_size(c)?;
    (0..n).map(|r| Ok(api::comm_world_rank(c, r)?)).collect()
}

export! { fn MPI_Intercomm_create / PMPI_Intercomm_create(local_comm: MpiComm, local_leader: c_int, peer_comm: MpiComm, remote_leader: c_int, tag: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Intercomm_create", local_comm, || {
        let lc = comm_id(local_comm)?;
        if inter(local_comm).is_some() {
            return fail(class::COMM, "the local communicator must be an intracommunicator");
        }
        let n = api::comm_size(lc)?;
        if local_leader < 0 || local_leader >= n {
            return fail(class::RANK, format!("invalid local leader {local_leader} (communicator of size {n})"));
        }
        let me = api::comm_rank(lc)?;
        let peer = if me == local_leader { comm_id(peer_comm)? } else { lc };
        let local = api::comm_dup(lc)?;
        let lw = world_ranks(lc)?;
        let mask = local_mask(local)?;
        let mut mine = mask_bytes(&mask);
        mine.extend(lw.iter().flat_map(|w| w.to_ne_bytes()));
        let theirs = leader_swap(local, local_leader, peer, remote_leader, tag, &mine)?;
        let k = mask.len() * 8;
        let other = bytes_mask(&theirs[..k]);
        let rw = u32s(&theirs[k..]);
        let both: Vec<u64> = mask.iter().zip(&other).map(|(a, b)| a & b).collect();
        let slot = lowest(&both)?;
        let id = api::comm_from_parts(slot, &rw, me, "")?;
        let h = comm_handle(id);
        let eh = st().comm_errhandler.get(&local_comm).copied().unwrap_or(MPI_ERRORS_ARE_FATAL);
        st().comm_errhandler.insert(h, eh);
        st().inters.insert(h, Inter { local, local_world: lw, remote_world: rw });
        out(new, h)
    })
}}

export! { fn MPI_Intercomm_merge / PMPI_Intercomm_merge(comm: MpiComm, high: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Intercomm_merge", comm, || {
        let c = comm_id(comm)?;
        let Some(info) = inter(comm) else { return fail(class::COMM, "MPI_Intercomm_merge needs an intercommunicator") };
        let mask = local_mask(info.local)?;
        let mut mine = mask_bytes(&mask);
        mine.push((high != 0) as u8);
        let theirs = leader_swap(info.local, 0, c, 0, LEADER_TAG, &mine)?;
        let k = mask.len() * 8;
        let other = bytes_mask(&theirs[..k]);
        let their_high = theirs[k] != 0;
        let my_high = high != 0;
        let local_first = if my_high != their_high { !my_high } else { info.local_world[0] < info.remote_world[0] };
        let group: Vec<u32> = if local_first {
            info.local_world.iter().chain(&info.remote_world).copied().collect()
        } else {
            info.remote_world.iter().chain(&info.local_world).copied().collect()
        };
        let me_world = info.local_world[api::comm_rank(info.local)? as usize];
        let rank = group.iter().position(|&w| w == me_world).expect("member") as c_int;
        let both: Vec<u64> = mask.iter().zip(&other).map(|(a, b)| a & b).collect();
        let slot = lowest(&both)?;
        let id = api::comm_from_parts(slot, &group, rank, "")?;
        let h = comm_handle(id);
        let eh = st().comm_errhandler.get(&comm).copied().unwrap_or(MPI_ERRORS_ARE_FATAL);
        st().comm_errhandler.insert(h, eh);
        out(new, h)
    })
}}

export! { fn MPI_Comm_remote_size / PMPI_Comm_remote_size(comm: MpiComm, size: *mut c_int) -> c_int {
    guard("MPI_Comm_remote_size", comm, || {
        comm_id(comm)?;
        let Some(i) = inter(comm) else { return fail(class::COMM, "not an intercommunicator") };
        out(size, i.remote_world.len() as c_int)
    })
}}

/// A group handle for a list of world ranks.
fn group_of_world(w: &[u32]) -> AbiResult<MpiGroup> {
    let wg = api::comm_group(rmpi_runtime::COMM_WORLD)?;
    let ranks: Vec<c_int> = w.iter().map(|&x| x as c_int).collect();
    let g = api::group_incl(wg, &ranks)?;
    api::group_free(wg)?;
    Ok(group_handle(g))
}

export! { fn MPI_Comm_remote_group / PMPI_Comm_remote_group(comm: MpiComm, group: *mut MpiGroup) -> c_int {
    guard("MPI_Comm_remote_group", comm, || {
        comm_id(comm)?;
        let Some(i) = inter(comm) else { return fail(class::COMM, "not an intercommunicator") };
        out(group, group_of_world(&i.remote_world)?)
    })
}}

/// Local size of an intercommunicator (`MPI_Comm_size`).
pub fn local_size(i: &Inter) -> c_int {
    i.local_world.len() as c_int
}

/// Local group of an intercommunicator (`MPI_Comm_group`).
pub fn local_group(i: &Inter) -> AbiResult<MpiGroup> {
    group_of_world(&i.local_world)
}

/// Forget an intercommunicator's data (on free).
pub fn forget(comm: MpiComm) -> AbiResult<()> {
    if let Some(i) = st().inters.remove(&comm) {
        api::comm_free(i.local)?;
    }
    Ok(())
}
