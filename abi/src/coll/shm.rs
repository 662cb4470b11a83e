//! The blocking barrier, allreduce and bcast of an intracommunicator try
//! the runtime's shared-memory path first (`rmpi_runtime::api::*_shm`),
//! straight between the user's buffers when the datatype is dense; where
//! it does not apply (a member on another node, a large message, a
//! non-dense datatype, an intercommunicator) the schedule runs as before.

use std::ffi::c_void;

use rmpi_runtime::api;

use super::bufs::Items;
use crate::consts::*;
use crate::errors::AbiResult;
use crate::handles::comm_id;

/// The intracommunicator `comm` is, or `None` for an intercommunicator.
fn intra(comm: MpiComm) -> AbiResult<Option<rmpi_runtime::CommId>> {
    let c = comm_id(comm)?;
    Ok(crate::inter::inter(comm).is_none().then_some(c))
}

/// `MPI_Barrier`: true if done here.
pub fn barrier(comm: MpiComm) -> AbiResult<bool> {
    match intra(comm)? {
        Some(c) => Ok(api::barrier_shm(c)?),
        None => Ok(false),
    }
}

/// `MPI_Bcast` of dense items: true if done here.
pub fn bcast(buf: *mut c_void, count: i64, dt: MpiDatatype, root: i32, comm: MpiComm) -> AbiResult<bool> {
    let Some(c) = intra(comm)? else { return Ok(false) };
    let items = Items::new(buf, count, dt)?;
    let Some(p) = items.dense() else { return Ok(false) };
    let n = items.bytes();
    let bytes: &mut [u8] = if n == 0 {
        &mut []
    } else {
        // SAFETY: MPI gives `count` dense items, `n` bytes from `p`.
        unsafe { std::slice::from_raw_parts_mut(p, n) }
    };
    Ok(api::bcast_shm(bytes, root, c)?)
}

/// `MPI_Allreduce` of dense items (`sbuf` may be `MPI_IN_PLACE`): true if
/// done here.
pub fn allreduce(
    sbuf: *const c_void,
    rbuf: *mut c_void,
    count: i64,
    dt: MpiDatatype,
    op: MpiOp,
    comm: MpiComm,
) -> AbiResult<bool> {
    let Some(c) = intra(comm)? else { return Ok(false) };
    let dst = Items::new(rbuf, count, dt)?;
    let Some(d) = dst.dense() else { return Ok(false) };
    let n = dst.bytes();
    let src = if super::bufs::in_place(sbuf) {
        None
    } else {
        match Items::new(sbuf, count, dt)?.dense() {
            Some(s) => Some(s),
            None => return Ok(false),
        }
    };
    let f = crate::op::resolve(op, dt)?;
    if n == 0 {
        return Ok(api::allreduce_shm(None, &mut [], &*f, c)?);
    }
    // SAFETY: MPI gives `count` dense items at each buffer, `n` bytes from
    // the pointers; a separate send buffer must not overlap the receive one.
    let (send, recv) =
        unsafe { (src.map(|s| std::slice::from_raw_parts(s as *const u8, n)), std::slice::from_raw_parts_mut(d, n)) };
    Ok(api::allreduce_shm(send, recv, &*f, c)?)
}
