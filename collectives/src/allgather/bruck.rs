//! Bruck allgather, for every size: `ceil(log2 size)` steps however the
//! size factors, so suited to small blocks on many ranks.
//!
//! Each rank keeps a scratch image in which position `i` holds the block
//! of rank `rank + i`. In round k (distance `d = 2^k`) it sends its first
//! `min(d, size - d)` blocks to `rank - d` and receives as many from
//! `rank + d`, which land at positions `d ..`; a final rotation puts the
//! blocks in rank order.
//!
//! Tags: round k uses tag k.

use crate::schedule::{Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "allgather:bruck";

/// The allgather schedule (see [`Collective::allgather`](crate::Collective::allgather)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let (rank, size) = (a.rank, a.size);
    let blk = if a.in_place { a.data.len() / size } else { a.data.len() };
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let own = if a.in_place { Region::new(input, rank * blk..(rank + 1) * blk) } else { b.whole(input) };
    let tmp = b.zeroed(size * blk);
    b.copy(own, Region::new(tmp, 0..blk), &[])?;
    let (mut dist, mut round) = (1usize, 0u32);
    while dist < size {
        let cnt = dist.min(size - dist);
        b.send((rank + size - dist) % size, round, Region::new(tmp, 0..cnt * blk), &[])?;
        let landing = b.zeroed(cnt * blk);
        b.recv((rank + dist) % size, round, b.whole(landing), &[])?;
        b.copy(b.whole(landing), Region::new(tmp, dist * blk..(dist + cnt) * blk), &[])?;
        dist *= 2;
        round += 1;
    }
    let out = if a.in_place { input } else { b.zeroed(size * blk) };
    let upper = size - rank;
    b.copy(Region::new(tmp, 0..upper * blk), Region::new(out, rank * blk..size * blk), &[])?;
    b.copy(Region::new(tmp, upper * blk..size * blk), Region::new(out, 0..rank * blk), &[])?;
    b.set_output(out);
    Ok(b.finish())
}
