//! Binomial-tree gather. Ranks are renumbered relative to the root
//! (`v = (rank - root) mod size`); rank `v` collects the blocks of its
//! subtree `v .. v + lowbit(v)` (the root: all) in one buffer, in virtual
//! order, receiving child `v + 2^j`'s subtree straight into place, then
//! sends the lot to its parent `v - lowbit(v)`. The root rotates the
//! virtual order back to rank order. `ceil(log2 size)` steps; blocks are
//! forwarded through intermediate ranks, so suited to small blocks.
//!
//! Tags: 0.

use crate::schedule::{Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "gather:binomial";

/// The gather schedule (see [`Collective::gather`](crate::Collective::gather)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let (rank, size, root) = (a.rank, a.size, a.root);
    let in_place = a.in_place && rank == root;
    let blk = if in_place { a.data.len() / size } else { a.data.len() };
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let real = |w: usize| (w + root) % size;
    let v = (rank + size - root) % size;
    let span = if v == 0 { size.next_power_of_two() } else { v & v.wrapping_neg() };
    let sub = span.min(size - v);
    let acc = b.zeroed(sub * blk);
    let own = if in_place { Region::new(input, root * blk..(root + 1) * blk) } else { b.whole(input) };
    b.copy(own, Region::new(acc, 0..blk), &[])?;
    let mut mask = 1;
    while mask < span && v + mask < size {
        let child_sub = mask.min(size - v - mask);
        b.recv(real(v + mask), 0, Region::new(acc, mask * blk..(mask + child_sub) * blk), &[])?;
        mask *= 2;
    }
    if v != 0 {
        b.send(real(v - span), 0, b.whole(acc), &[])?;
        return Ok(b.finish());
    }
    // Virtual w holds real rank root + w: two contiguous pieces.
    let out = if in_place { input } else { b.zeroed(size * blk) };
    let first = if in_place { 1 } else { 0 };
    let upper = size - root;
    b.copy(Region::new(acc, first * blk..upper * blk), Region::new(out, (root + first) * blk..size * blk), &[])?;
    b.copy(Region::new(acc, upper * blk..size * blk), Region::new(out, 0..root * blk), &[])?;
    b.set_output(out);
    Ok(b.finish())
}
