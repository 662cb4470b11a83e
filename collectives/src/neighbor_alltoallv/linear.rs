//! Linear neighbourhood alltoallv (`MPI_Neighbor_alltoallv`, and
//! `MPI_Neighbor_alltoallw` in byte form): a receive from every source
//! (each into its own buffer, tag = the edge's label) and a send to every
//! destination, all posted at once. An edge from a rank to itself is a
//! local copy. One step; every neighbourhood collective uses this engine.
//!
//! Tags: the edge labels (at most [`MAX_TAG`](crate::MAX_TAG)).

use crate::layout::{Layout, Neighbors};
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "neighbor_alltoallv:linear";

/// The schedule (see [`Collective::neighbor_alltoallv`](crate::Collective::neighbor_alltoallv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nbrs = a.neighbors()?.clone();
    let send = a.send_layout()?.clone();
    let recv = a.recv_layout()?.clone();
    build_layouts(a.rank, a.size, a.data, &nbrs, &send, &recv)
}

/// The schedule for explicit per-destination (`send`) and per-source
/// (`recv`) layouts; shared by every neighbourhood collective.
pub(crate) fn build_layouts(
    rank: usize,
    size: usize,
    data: Vec<u8>,
    nbrs: &Neighbors,
    send: &Layout,
    recv: &Layout,
) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(data);
    b.set_input(input);
    let out = b.zeroed(recv.extent());
    b.set_output(out);
    build_into(&mut b, nbrs, input, send, out, recv)?;
    Ok(b.finish())
}

/// Adds the exchange to `b`: block `i` of `input` (per `send`) goes to
/// destination `i`; the block from source `j` lands in block `j` of `out`.
pub fn build_into(
    b: &mut ScheduleBuilder,
    nbrs: &Neighbors,
    input: BufId,
    send: &Layout,
    out: BufId,
    recv: &Layout,
) -> Result<(), CollError> {
    let rank = b.rank();
    let mut landed = Vec::new();
    for (j, &(src, label)) in nbrs.sources().iter().enumerate() {
        if src != rank {
            let tmp = b.zeroed(recv.count(j));
            b.recv(src, label, b.whole(tmp), &[])?;
            landed.push((j, tmp));
        }
    }
    for (i, &(dst, label)) in nbrs.destinations().iter().enumerate() {
        if dst != rank {
            b.send(dst, label, Region::new(input, send.block(i)), &[])?;
            continue;
        }
        let j = nbrs
            .sources()
            .iter()
            .position(|&e| e == (rank, label))
            .ok_or_else(|| CollError::Invalid(format!("self edge with label {label} has no matching source")))?;
        if send.count(i) != recv.count(j) {
            return Err(CollError::Invalid(format!(
                "self edge sends {} bytes into a {}-byte block",
                send.count(i),
                recv.count(j)
            )));
        }
        b.copy(Region::new(input, send.block(i)), Region::new(out, recv.block(j)), &[])?;
    }
    for (j, tmp) in landed {
        b.copy(b.whole(tmp), Region::new(out, recv.block(j)), &[])?;
    }
    let self_sources = nbrs.sources().iter().filter(|e| e.0 == rank).count();
    let self_dests = nbrs.destinations().iter().filter(|e| e.0 == rank).count();
    if self_sources != self_dests {
        return Err(CollError::Invalid("self edges differ between sources and destinations".into()));
    }
    Ok(())
}
