//! Duplicating and splitting intercommunicators (`MPI_Comm_dup`,
//! `MPI_Comm_split` and `MPI_Comm_split_type` on an intercommunicator).
//!
//! Both sides agree on a context slot as `MPI_Intercomm_create` does: each
//! group ANDs its free-slot masks, the leaders swap theirs over the old
//! intercommunicator, and all take the lowest slot free on both sides. A
//! split uses one slot for every colour: communicators of different
//! colours have no process in common, so they never see each other's
//! messages.

use std::ffi::c_int;

use rmpi_runtime::api;

use crate::consts::*;
use crate::errors::{fail, AbiResult};
use crate::handles::{comm_handle, comm_id, st};
use crate::inter::{bytes_mask, inter, leader_swap, local_mask, lowest, mask_bytes, u32s, Inter, LEADER_TAG};

/// A slot free on every process of both groups of `comm` (collective over it).
fn agree_slot(comm: MpiComm, i: &Inter) -> AbiResult<usize> {
    let c = comm_id(comm)?;
    let mask = local_mask(i.local)?;
    let theirs = bytes_mask(&leader_swap(i.local, 0, c, 0, LEADER_TAG, &mask_bytes(&mask))?);
    let both: Vec<u64> = mask.iter().zip(&theirs).map(|(a, b)| a & b).collect();
    lowest(&both)
}

fn register(parent: MpiComm, h: MpiComm, info: Inter) {
    let eh = st().comm_errhandler.get(&parent).copied().unwrap_or(MPI_ERRORS_ARE_FATAL);
    st().comm_errhandler.insert(h, eh);
    st().inters.insert(h, info);
}

/// `MPI_Comm_dup` of an intercommunicator.
pub fn dup(comm: MpiComm) -> AbiResult<MpiComm> {
    let Some(i) = inter(comm) else { return fail(class::COMM, "not an intercommunicator") };
    // The private local duplicate first: it takes a slot the agreement below then avoids.
    let local = api::comm_dup(i.local)?;
    let slot = agree_slot(comm, &i)?;
    let me = api::comm_rank(i.local)?;
    let id = api::comm_from_parts(slot, &i.remote_world, me, "")?;
    let h = comm_handle(id);
    register(comm, h, Inter { local, local_world: i.local_world.clone(), remote_world: i.remote_world.clone() });
    Ok(h)
}

/// `MPI_Comm_split` of an intercommunicator: the processes of one colour on
/// each side form a new intercommunicator (`MPI_COMM_NULL` where either
/// side has none).
pub fn split(comm: MpiComm, color: c_int, key: c_int) -> AbiResult<MpiComm> {
    let Some(i) = inter(comm) else { return fail(class::COMM, "not an intercommunicator") };
    let c = comm_id(comm)?;
    // The local part first: it takes a slot the agreement below then avoids.
    let local_part = api::comm_split(i.local, color, key)?;
    let slot = agree_slot(comm, &i)?;
    // Every local process's (colour, key, world rank), then the remote side's.
    let me = api::comm_rank(i.local)? as usize;
    let n = i.local_world.len();
    let mut mine = vec![0u8; n * 12];
    mine[me * 12..me * 12 + 4].copy_from_slice(&color.to_ne_bytes());
    mine[me * 12 + 4..me * 12 + 8].copy_from_slice(&key.to_ne_bytes());
    mine[me * 12 + 8..me * 12 + 12].copy_from_slice(&i.local_world[me].to_ne_bytes());
    let mut all = vec![0u8; mine.len()];
    let sum = api::predefined_op(rmpi_runtime::ops::PredefOp::Bor, rmpi_runtime::ops::Prim::U8)?;
    api::allreduce(&mine, &mut all, sum, i.local)?;
    let remote = leader_swap(i.local, 0, c, 0, LEADER_TAG, &all)?;
    let Some(local) = local_part else { return Ok(MPI_COMM_NULL) };
    let words = u32s(&remote);
    let mut theirs: Vec<(i32, usize, u32)> = words
        .chunks_exact(3)
        .enumerate()
        .filter(|(_, w)| w[0] as i32 == color)
        .map(|(r, w)| (w[1] as i32, r, w[2]))
        .collect();
    if theirs.is_empty() {
        api::comm_free(local)?;
        return Ok(MPI_COMM_NULL);
    }
    theirs.sort();
    let remote_world: Vec<u32> = theirs.iter().map(|t| t.2).collect();
    let n_local = api::comm_size(local)?;
    let local_world = (0..n_local).map(|r| api::comm_world_rank(local, r)).collect::<Result<Vec<_>, _>>()?;
    let rank = api::comm_rank(local)?;
    let id = api::comm_from_parts(slot, &remote_world, rank, "")?;
    let h = comm_handle(id);
    register(comm, h, Inter { local, local_world, remote_world });
    Ok(h)
}
