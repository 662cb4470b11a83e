//! Ring allgatherv: in step `s` each rank passes the block it received in
//! step `s - 1` (its own in step 0) to its right neighbour and receives the
//! next one from its left neighbour; after `size - 1` steps every rank has
//! every block. Each block travels `size - 1` links, each rank sends the
//! total once: bandwidth-optimal, `size - 1` steps of latency, suited to
//! large totals. Counts may differ per rank (zero included); the
//! algorithm depends on nothing but the layout every rank knows.
//!
//! Every block gets its own buffer, so a rank sends one block while it
//! receives another; the blocks are copied into the output image at the end.
//!
//! Tags: one tag (`tag`). Each send waits for the previous send and each
//! receive for the previous receive, so messages on the tag match in order.

use crate::layout::Layout;
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder, StepId};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "allgatherv:ring";

/// The allgatherv schedule (see [`Collective::allgatherv`](crate::Collective::allgatherv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let layout = a.recv_layout()?.clone();
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let out = build_into(&mut b, &layout, input, a.in_place, 0)?;
    b.set_output(out);
    Ok(b.finish())
}

/// Adds a ring allgatherv to `b`: `input` holds this rank's block (or, if
/// `in_place`, the whole image with the block at its place); returns the
/// buffer holding the output image (`input` itself when in place).
pub fn build_into(
    b: &mut ScheduleBuilder,
    layout: &Layout,
    input: BufId,
    in_place: bool,
    tag: u32,
) -> Result<BufId, CollError> {
    let (rank, size) = (b.rank(), b.size());
    let own = if in_place { Region::new(input, layout.block(rank)) } else { b.whole(input) };
    let blocks: Vec<BufId> = (0..size).map(|i| b.zeroed(layout.count(i))).collect();
    b.copy(own, b.whole(blocks[rank]), &[])?;
    ring_blocks(b, &blocks, rank, &|w| w, tag)?;
    let out = if in_place { input } else { b.zeroed(layout.extent()) };
    for (i, blk) in blocks.iter().enumerate() {
        if !(in_place && i == rank) {
            b.copy(b.whole(*blk), Region::new(out, layout.block(i)), &[])?;
        }
    }
    Ok(out)
}

/// Circulates `blocks` around a ring: position `me` holds its block in
/// `blocks[me]` and ends with all of them. Position `w` is real rank
/// `real(w)`; the right neighbour is position `me + 1`. Uses tag `tag`.
pub(crate) fn ring_blocks(
    b: &mut ScheduleBuilder,
    blocks: &[BufId],
    me: usize,
    real: &dyn Fn(usize) -> usize,
    tag: u32,
) -> Result<(), CollError> {
    let n = blocks.len();
    if n <= 1 {
        return Ok(());
    }
    let right = real((me + 1) % n);
    let left = real((me + n - 1) % n);
    let after = |s: Option<StepId>| -> Vec<StepId> { s.into_iter().collect() };
    let (mut last_send, mut last_recv) = (None, None);
    for s in 0..n - 1 {
        let out = blocks[(me + n - s) % n];
        last_send = Some(b.send(right, tag, b.whole(out), &after(last_send))?);
        let into = blocks[(me + 2 * n - s - 1) % n];
        last_recv = Some(b.recv(left, tag, b.whole(into), &after(last_recv))?);
    }
    Ok(())
}
