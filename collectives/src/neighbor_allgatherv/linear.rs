//! Linear neighbourhood allgatherv (`MPI_Neighbor_allgatherv`): this
//! rank's block goes to every destination; the block of source `j` lands
//! where the receive layout says. Built on [`neighbor_alltoallv::linear`](crate::neighbor_alltoallv::linear).
//!
//! Tags: the edge labels.

use crate::layout::Layout;
use crate::neighbor_alltoallv::linear::build_layouts;
use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "neighbor_allgatherv:linear";

/// The schedule (see [`Collective::neighbor_allgatherv`](crate::Collective::neighbor_allgatherv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nbrs = a.neighbors()?.clone();
    let recv = a.recv_layout()?.clone();
    let len = a.data.len();
    let d = nbrs.destinations().len();
    let send = Layout::new(vec![len; d], vec![0; d])?;
    build_layouts(a.rank, a.size, a.data, &nbrs, &send, &recv)
}
