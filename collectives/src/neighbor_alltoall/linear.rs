//! Linear neighbourhood alltoall (`MPI_Neighbor_alltoall`): block `i` of
//! `block` bytes goes to destination `i`; the block of source `j` lands at
//! `j * block`. Built on [`neighbor_alltoallv::linear`](crate::neighbor_alltoallv::linear).
//!
//! Tags: the edge labels.

use crate::layout::Layout;
use crate::neighbor_alltoallv::linear::build_layouts;
use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "neighbor_alltoall:linear";

/// The schedule (see [`Collective::neighbor_alltoall`](crate::Collective::neighbor_alltoall)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nbrs = a.neighbors()?.clone();
    let send = Layout::uniform(nbrs.destinations().len(), a.block);
    let recv = Layout::uniform(nbrs.sources().len(), a.block);
    build_layouts(a.rank, a.size, a.data, &nbrs, &send, &recv)
}
