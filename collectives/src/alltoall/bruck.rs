//! Bruck alltoall: `ceil(log2 size)` steps for every size, at the price of
//! sending each block about `log2(size) / 2` times; suited to small blocks.
//!
//! Each rank first rotates its send image so that position `i` holds the
//! block for rank `rank + i`. In round k (distance `d = 2^k`) it packs the
//! positions whose bit k is set, sends them to `rank + d`, receives the
//! same positions from `rank - d` and unpacks them in place. A block at
//! position `i` thus travels `i` ranks in total; at the end position `i`
//! holds the block from rank `rank - i`, and a final reversed rotation
//! puts blocks in rank order.
//!
//! Tags: round k uses tag k.

use crate::schedule::{Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "alltoall:bruck";

/// The alltoall schedule (see [`Collective::alltoall`](crate::Collective::alltoall)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let (rank, size) = (a.rank, a.size);
    let blk = a.data.len() / size;
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let at = |i: usize| i * blk..(i + 1) * blk;
    let tmp = b.zeroed(size * blk);
    let upper = size - rank;
    b.copy(Region::new(input, rank * blk..size * blk), Region::new(tmp, 0..upper * blk), &[])?;
    b.copy(Region::new(input, 0..rank * blk), Region::new(tmp, upper * blk..size * blk), &[])?;
    let (mut dist, mut round) = (1usize, 0u32);
    while dist < size {
        let moving: Vec<usize> = (0..size).filter(|i| i & dist != 0).collect();
        let pack = b.zeroed(moving.len() * blk);
        for (k, &i) in moving.iter().enumerate() {
            b.copy(Region::new(tmp, at(i)), Region::new(pack, at(k)), &[])?;
        }
        b.send((rank + dist) % size, round, b.whole(pack), &[])?;
        let unpack = b.zeroed(moving.len() * blk);
        b.recv((rank + size - dist) % size, round, b.whole(unpack), &[])?;
        for (k, &i) in moving.iter().enumerate() {
            b.copy(Region::new(unpack, at(k)), Region::new(tmp, at(i)), &[])?;
        }
        dist *= 2;
        round += 1;
    }
    let out = b.zeroed(size * blk);
    for i in 0..size {
        b.copy(Region::new(tmp, at(i)), Region::new(out, at((rank + size - i) % size)), &[])?;
    }
    b.set_output(out);
    Ok(b.finish())
}
