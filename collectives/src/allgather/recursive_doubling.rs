//! Recursive-doubling allgather, for every size.
//!
//! The communicator is folded onto a power of two `p2` (see the fold in
//! `layout`): each extra even rank hands its block to the odd rank above
//! it. Member `j` then holds the blocks of a contiguous run of real ranks,
//! and in round k it swaps everything it holds (the run of the aligned
//! group of `2^k` members around it) with member `j ^ 2^k`, receiving into
//! scratch and copying into the output. Members finally send the whole
//! output to their extras. `log2(p2) + 2` steps, each rank receives the
//! total once (plus once more for the extras): suited to small and medium
//! totals.
//!
//! Tags: 0 for the hand-in, `1 + k` for round k, 64 for the hand-back.

use crate::layout::{Fold, FoldRole};
use crate::schedule::{Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "allgather:recursive_doubling";

/// The allgather schedule (see [`Collective::allgather`](crate::Collective::allgather)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let (rank, size) = (a.rank, a.size);
    let blk = if a.in_place { a.data.len() / size } else { a.data.len() };
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let out = if a.in_place {
        input
    } else {
        let out = b.zeroed(size * blk);
        b.copy(b.whole(input), Region::new(out, rank * blk..(rank + 1) * blk), &[])?;
        out
    };
    b.set_output(out);
    let fold = Fold::new(size);
    let bytes = |lo: usize, hi: usize| fold.first_rank(lo) * blk..fold.first_rank(hi) * blk;
    match fold.role(rank) {
        FoldRole::Extra { partner } => {
            b.send(partner, 0, Region::new(out, rank * blk..(rank + 1) * blk), &[])?;
            b.recv(partner, 64, b.whole(out), &[])?;
        }
        FoldRole::Member { new, extra } => {
            if let Some(e) = extra {
                b.recv(e, 0, Region::new(out, e * blk..(e + 1) * blk), &[])?;
            }
            let tmp = b.zeroed(size * blk);
            let (mut mask, mut round) = (1usize, 0u32);
            while mask < fold.p2 {
                let partner = fold.real(new ^ mask);
                let mine = new & !(mask - 1);
                let theirs = mine ^ mask;
                b.send(partner, 1 + round, Region::new(out, bytes(mine, mine + mask)), &[])?;
                let r = bytes(theirs, theirs + mask);
                b.recv(partner, 1 + round, Region::new(tmp, r.clone()), &[])?;
                b.copy(Region::new(tmp, r.clone()), Region::new(out, r), &[])?;
                mask *= 2;
                round += 1;
            }
            if let Some(e) = extra {
                b.send(e, 64, b.whole(out), &[])?;
            }
        }
    }
    Ok(b.finish())
}
