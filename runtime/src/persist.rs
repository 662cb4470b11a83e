//! Persistent point-to-point requests: the arguments, kept for each start.

use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::SendMode;

/// The saved arguments of `MPI_Send_init` / `MPI_Recv_init`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Persistent {
    /// `peer` is `None` for MPI_PROC_NULL.
    Send { peer: Option<u32>, ctx: u32, src: i32, tag: i32, buf: SendBuf, mode: SendMode },
    /// `null` for MPI_PROC_NULL.
    Recv { ctx: u32, src: SrcSel, tag: TagSel, buf: RecvBuf, null: bool },
}
