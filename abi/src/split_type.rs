//! `MPI_Comm_split_type`'s colours: `MPI_COMM_TYPE_SHARED` groups the ranks
//! of one node; the guided kinds (`HW_GUIDED`, `RESOURCE_GUIDED`) do the same
//! when the info asks for `mpi_hw_resource_type=mpi_shared_memory` and give
//! `MPI_COMM_NULL` for any other request; `HW_UNGUIDED` returns the next
//! smaller level (the node, then each process alone) and names it in the
//! info.

use std::ffi::c_int;

use rmpi_runtime::api;
use rmpi_runtime::ops::{PredefOp, Prim};
use rmpi_runtime::CommId;

use crate::consts::*;
use crate::errors::{fail, AbiResult};

pub const COMM_TYPE_SHARED: c_int = 1;
pub const COMM_TYPE_HW_GUIDED: c_int = 2;
pub const COMM_TYPE_HW_UNGUIDED: c_int = 3;
pub const COMM_TYPE_RESOURCE_GUIDED: c_int = 4;
const RESOURCE_KEY: &str = "mpi_hw_resource_type";
const SHARED_MEMORY: &str = "mpi_shared_memory";

/// This node's colour: a hash of the host name.
fn node_color() -> c_int {
    let h = api::processor_name().bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ b as u32);
    (h & 0x3fff_ffff) as c_int
}

fn info_value(info: MpiInfo, key: &str) -> AbiResult<Option<String>> {
    if info == MPI_INFO_NULL {
        return Ok(None);
    }
    Ok(crate::info::entries(info)?.into_iter().find(|(k, _)| k == key).map(|(_, v)| v))
}

fn all_same(v: c_int, comm: CommId) -> AbiResult<bool> {
    let op = |o| api::predefined_op(o, Prim::I32);
    let (mut lo, mut hi) = ([0u8; 4], [0u8; 4]);
    api::allreduce(&v.to_ne_bytes(), &mut lo, op(PredefOp::Min)?, comm)?;
    api::allreduce(&v.to_ne_bytes(), &mut hi, op(PredefOp::Max)?, comm)?;
    Ok(lo == hi)
}

/// The colour this process passes to the split for `kind` (collective over
/// `comm` for `HW_UNGUIDED`, which also writes the level's name into `info`).
pub fn color(comm: CommId, kind: c_int, info: MpiInfo) -> AbiResult<c_int> {
    match kind {
        MPI_UNDEFINED => Ok(MPI_UNDEFINED),
        COMM_TYPE_SHARED => Ok(node_color()),
        COMM_TYPE_HW_GUIDED | COMM_TYPE_RESOURCE_GUIDED => Ok(match info_value(info, RESOURCE_KEY)?.as_deref() {
            Some(SHARED_MEMORY) => node_color(),
            _ => MPI_UNDEFINED,
        }),
        COMM_TYPE_HW_UNGUIDED => {
            let (rank, size) = (api::comm_rank(comm)?, api::comm_size(comm)?);
            let one_node = all_same(node_color(), comm)?;
            let (c, level) = if !one_node {
                (node_color(), SHARED_MEMORY)
            } else if size > 1 {
                (rank, "hwthread")
            } else {
                (MPI_UNDEFINED, "")
            };
            if c != MPI_UNDEFINED && info != MPI_INFO_NULL {
                crate::info::set_entry(info, RESOURCE_KEY, level)?;
            }
            Ok(c)
        }
        _ => fail(class::ARG, format!("invalid split type {kind}")),
    }
}
