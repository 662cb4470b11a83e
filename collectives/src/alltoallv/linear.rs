//! Linear ("post everything") alltoallv: each rank posts a receive from
//! every peer (each into its own buffer) and a send to every peer at once,
//! peers taken in the order `rank + 1, rank + 2, ...` so that not every
//! rank starts on the same one, then copies the blocks into place. One step
//! of latency and full overlap; suited to small and medium blocks. It
//! depends only on this rank's layouts, so it serves `MPI_Alltoallv` and,
//! with byte layouts, `MPI_Alltoallw`.
//!
//! Tags: one tag (`tag`); each ordered pair exchanges one message.

use crate::layout::Layout;
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "alltoallv:linear";

/// The alltoallv schedule (see [`Collective::alltoallv`](crate::Collective::alltoallv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    super::schedule(a, build_into)
}

/// Adds a linear alltoallv from `input` (blocks per `send`) into `out`
/// (blocks per `recv`) to `b`.
pub fn build_into(
    b: &mut ScheduleBuilder,
    input: BufId,
    send: &Layout,
    out: BufId,
    recv: &Layout,
    tag: u32,
) -> Result<(), CollError> {
    let (rank, size) = (b.rank(), b.size());
    b.copy(Region::new(input, send.block(rank)), Region::new(out, recv.block(rank)), &[])?;
    let mut landed = Vec::with_capacity(size);
    for src in (1..size).map(|k| (rank + size - k) % size) {
        let tmp = b.zeroed(recv.count(src));
        b.recv(src, tag, b.whole(tmp), &[])?;
        landed.push((src, tmp));
    }
    for dst in (1..size).map(|k| (rank + k) % size) {
        b.send(dst, tag, Region::new(input, send.block(dst)), &[])?;
    }
    for (src, tmp) in landed {
        b.copy(b.whole(tmp), Region::new(out, recv.block(src)), &[])?;
    }
    Ok(())
}
