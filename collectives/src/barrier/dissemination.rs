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
    // of round k+1 is what must wait for the receive of round k.
    let mut previous_recv: Option<StepId> = None;
    let mut distance = 1usize;
    let mut round = 0u32;
    while distance < size {
        let to = (rank + distance) % size;
        let from = (rank + size - distance) % size;
        let after: Vec<StepId> = previous_recv.into_iter().collect();
        b.send(to, round, region.clone(), &after)?;
        previous_recv = Some(b.recv(from, round, region.clone(), &[])?);
        distance = distance.saturating_mul(2);
        round += 1;
    }
    Ok(b.finish())
}
