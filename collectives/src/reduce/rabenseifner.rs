//! Rabenseifner reduce for commutative operators: a reduce-scatter by
//! recursive halving (shared with the Rabenseifner allreduce) followed by
//! a binomial gather of the finished chunks to the root.
//!
//! After the folded reduce-scatter (see `allreduce::rabenseifner`), member
//! `j` owns chunk `j`. The gather runs over members renumbered `w = j ^ t`,
//! where `t` is the member holding the root's data: in round k a member
//! with bit k of `w` set sends everything it has (the aligned run of `2^k`
//! chunks around `j`) to `j ^ 2^k` and stops; the others receive that run
//! straight into place. If the root is an extra rank, its member forwards
//! the result. Each rank sends about the vector once: suited to long vectors.
//!
//! Tags: `tag` for the hand-in, `tag + 1 + k` for halving round k,
//! `tag + 32 + k` for gather round k, `tag + 64` for the forward.

use std::sync::Arc;

use crate::allreduce::rabenseifner::{reduce_scatter_folded, FoldedReduceScatter};
use crate::layout::Fold;
use crate::schedule::{check_elements, BufId, Region, Schedule, ScheduleBuilder};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "reduce:rabenseifner";

/// The reduce schedule for this rank's contribution `data`; the output is
/// the result on `root` and empty elsewhere.
pub fn build(
    rank: usize,
    size: usize,
    root: usize,
    data: Vec<u8>,
    op: &Arc<dyn ReduceOp>,
) -> Result<Schedule, CollError> {
    super::schedule(rank, size, root, data, op, build_into)
}

/// Adds a Rabenseifner reduce of `input` to `root` to `b` with tags
/// `tag..=tag + 64`; returns the buffer holding the result on the root.
/// `input` is overwritten. Fails for non-commutative operators.
pub fn build_into(
    b: &mut ScheduleBuilder,
    root: usize,
    op: &Arc<dyn ReduceOp>,
    input: BufId,
    tag: u32,
) -> Result<Option<BufId>, CollError> {
    let (rank, size) = (b.rank(), b.size());
    if root >= size {
        return Err(CollError::Invalid(format!("root {root} out of range for size {size}")));
    }
    let len = b.whole(input).len();
    check_elements(op.as_ref(), len)?;
    let fold = Fold::new(size);
    let target = fold.member_of(root);
    let Some(FoldedReduceScatter { new, at, .. }) = reduce_scatter_folded(b, op, input, tag, KEY)? else {
        if rank != root {
            return Ok(None);
        }
        let out = b.zeroed(len);
        b.recv(fold.real(target), tag + 64, b.whole(out), &[])?;
        return Ok(Some(out));
    };
    let w = new ^ target;
    let (mut mask, mut round) = (1usize, 0u32);
    while mask < fold.p2 {
        let partner = fold.real(new ^ mask);
        if w & mask != 0 {
            let mine = new & !(mask - 1);
            b.send(partner, tag + 32 + round, Region::new(input, at(mine, mine + mask)), &[])?;
            return Ok(None);
        }
        let theirs = (new ^ mask) & !(mask - 1);
        b.recv(partner, tag + 32 + round, Region::new(input, at(theirs, theirs + mask)), &[])?;
        mask *= 2;
        round += 1;
    }
    if rank == root {
        Ok(Some(input))
    } else {
        b.send(root, tag + 64, b.whole(input), &[])?;
        Ok(None)
    }
}
