//! Dissemination barrier (Hensgen, Finkel and Manber): in round k each rank
//! sends a zero-byte message to `rank + 2^k` and waits for one from
//! `rank - 2^k` (modulo the size), for `ceil(log2 size)` rounds. Works for
//! every size, not only powers of two.
//!
//! Tags: round k uses tag k (at most 63).

use crate::schedule::{Region, Schedule, ScheduleBuilder, StepId};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "barrier:dissemination";

/// The barrier schedule for `rank` of `size`.
pub fn build(rank: usize, size: usize) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let empty = b.zeroed(0);
    let region = Region::new(empty, 0..0);
    // Receives carry no data, so they can all be posted at once; the send
    // of round k is what must wait, for the receives of every earlier round
    // (waiting only for round k-1 would let a rank finish before a rank it
    // has not heard from, even indirectly, entered).
    let mut earlier_recvs: Vec<StepId> = Vec::new();
    let mut distance = 1usize;
    let mut round = 0u32;
    while distance < size {
        let to = (rank + distance) % size;
        let from = (rank + size - distance) % size;
        b.send(to, round, region.clone(), &earlier_recvs)?;
        earlier_recvs.push(b.recv(from, round, region.clone(), &[])?);
        distance = distance.saturating_mul(2);
        round += 1;
    }
    Ok(b.finish())
}
