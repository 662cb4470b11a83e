//! Linear neighbourhood allgather (`MPI_Neighbor_allgather`): this rank's
//! block goes to every destination; the block of source `j` lands at
//! `j * block`. Built on [`neighbor_alltoallv::linear`](crate::neighbor_alltoallv::linear).
//!
//! Tags: the edge labels.

use crate::layout::Layout;
use crate::neighbor_alltoallv::linear::build_layouts;
use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "neighbor_allgather:linear";

/// The schedule (see [`Collective::neighbor_allgather`](crate::Collective::neighbor_allgather)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nbrs = a.neighbors()?.clone();
    let len = a.data.len();
    let d = nbrs.destinations().len();
    let send = Layout::new(vec![len; d], vec![0; d])?;
    let recv = Layout::uniform(nbrs.sources().len(), len);
    build_layouts(a.rank, a.size, a.data, &nbrs, &send, &recv)
}
