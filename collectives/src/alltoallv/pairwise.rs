//! Pairwise-exchange alltoallv: in step `s` (1 ..= size - 1) each rank
//! sends to `rank + s` and receives from `rank - s`, straight into the
//! output image, and starts step `s + 1` only when the receive of step `s`
//! is done. One message in flight per rank and direction: `size - 1` steps,
//! no congestion, no scratch; suited to large blocks.
//!
//! Tags: one tag (`tag`); each ordered pair exchanges one message.

use crate::layout::Layout;
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder, StepId};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "alltoallv:pairwise";

/// The alltoallv schedule (see [`Collective::alltoallv`](crate::Collective::alltoallv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    super::schedule(a, build_into)
}

/// Adds a pairwise-exchange alltoallv from `input` (blocks per `send`)
/// into `out` (blocks per `recv`) to `b`.
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
    let mut prev: Option<StepId> = None;
    for s in 1..size {
        let (dst, src) = ((rank + s) % size, (rank + size - s) % size);
        let after: Vec<StepId> = prev.into_iter().collect();
        b.send(dst, tag, Region::new(input, send.block(dst)), &after)?;
        prev = Some(b.recv(src, tag, Region::new(out, recv.block(src)), &after)?);
    }
    Ok(())
}
