//! Recursive-doubling barrier: a tree-shaped alternative to dissemination.
//!
//! The communicator is folded onto a power of two (see the fold in
//! `layout`): each "extra" even rank below `2 * rem` notifies the odd rank
//! above it and waits for its release. The `p2` members exchange zero-byte
//! messages with partner `new ^ 2^k` in round k; a member sends in round k
//! only after every receive of earlier rounds, so once it has all its
//! receives every rank has entered. Members then release their extras.
//! `log2(p2) + 2` steps, `p2 log2(p2) + 2 rem` messages.
//!
//! Tags: 0 for the notification, `1 + k` for round k, 64 for the release.

use crate::layout::{Fold, FoldRole};
use crate::schedule::{Region, Schedule, ScheduleBuilder, StepId};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "barrier:recursive_doubling";

/// The barrier schedule for `rank` of `size`.
pub fn build(rank: usize, size: usize) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let empty = b.zeroed(0);
    let z = Region::new(empty, 0..0);
    let fold = Fold::new(size);
    match fold.role(rank) {
        FoldRole::Extra { partner } => {
            let s = b.send(partner, 0, z.clone(), &[])?;
            b.recv(partner, 64, z, &[s])?;
        }
        FoldRole::Member { new, extra } => {
            let mut earlier: Vec<StepId> = Vec::new();
            if let Some(e) = extra {
                earlier.push(b.recv(e, 0, z.clone(), &[])?);
            }
            let (mut mask, mut round) = (1usize, 0u32);
            while mask < fold.p2 {
                let partner = fold.real(new ^ mask);
                b.send(partner, 1 + round, z.clone(), &earlier)?;
                earlier.push(b.recv(partner, 1 + round, z.clone(), &[])?);
                mask *= 2;
                round += 1;
            }
            if let Some(e) = extra {
                b.send(e, 64, z, &earlier)?;
            }
        }
    }
    Ok(b.finish())
}
