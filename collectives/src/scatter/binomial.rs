//! Binomial-tree scatter, the mirror of the binomial gather: with ranks
//! renumbered relative to the root, rank `v` receives the blocks of its
//! subtree `v .. v + lowbit(v)` from its parent in one message and passes
//! each child `v + 2^j` its subtree's blocks, largest first. The root first
//! rotates its send image into virtual order. `ceil(log2 size)` steps;
//! suited to small blocks.
//!
//! Tags: 0.

use crate::schedule::{Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "scatter:binomial";

/// The scatter schedule (see [`Collective::scatter`](crate::Collective::scatter)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let (rank, size, root, blk) = (a.rank, a.size, a.root, a.block);
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let real = |w: usize| (w + root) % size;
    let v = (rank + size - root) % size;
    let span = if v == 0 { size.next_power_of_two() } else { v & v.wrapping_neg() };
    let sub = span.min(size - v);
    let acc = b.zeroed(sub * blk);
    if v == 0 {
        let upper = size - root;
        b.copy(Region::new(input, root * blk..size * blk), Region::new(acc, 0..upper * blk), &[])?;
        b.copy(Region::new(input, 0..root * blk), Region::new(acc, upper * blk..size * blk), &[])?;
    } else {
        b.recv(real(v - span), 0, b.whole(acc), &[])?;
    }
    let mut mask = span / 2;
    while mask > 0 {
        if v + mask < size {
            let child_sub = mask.min(size - v - mask);
            b.send(real(v + mask), 0, Region::new(acc, mask * blk..(mask + child_sub) * blk), &[])?;
        }
        mask /= 2;
    }
    if !(v == 0 && a.in_place) {
        let out = b.zeroed(blk);
        b.copy(Region::new(acc, 0..blk), b.whole(out), &[])?;
        b.set_output(out);
    }
    Ok(b.finish())
}
