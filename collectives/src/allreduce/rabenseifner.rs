//! Rabenseifner allreduce for commutative operators: a reduce-scatter by
//! recursive halving followed by an allgather by recursive doubling.
//!
//! The communicator is folded onto a power of two `p2` (see the fold in
//! `layout`): extra even ranks hand their vector to the odd rank above,
//! which combines it. The vector is cut into `p2` chunks of whole
//! elements. In halving round k (mask `p2/2, p2/4, ..., 1`) member `j`
//! keeps the half of its current chunk range on its side of `j ^ mask`,
//! sends the other half to that partner and folds the partner's copy of
//! the kept half into its own; it ends owning the fully reduced chunk `j`.
//! The doubling rounds swap ever larger aligned runs of finished chunks
//! back. Extras get the result at the end. About `2 log2(p2)` steps and
//! twice the vector sent per rank: suited to long vectors.
//!
//! Partial results are combined in an order that depends on the partner
//! pattern, so the operator must be commutative. Each chunk is finished by
//! one rank and copied everywhere, so all ranks get identical bytes.
//!
//! Tags: `tag` for the hand-in, `tag + 1 + k` for halving round k,
//! `tag + 32 + k` for doubling round k, `tag + 64` for the hand-back.

use std::sync::Arc;

use crate::layout::{chunk, Fold, FoldRole};
use crate::schedule::{check_elements, BufId, OperandOrder, Region, Schedule, ScheduleBuilder};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "allreduce:rabenseifner";

/// The allreduce schedule for this rank's contribution `data`; the output
/// is the reduced vector.
pub fn build(rank: usize, size: usize, data: Vec<u8>, op: &Arc<dyn ReduceOp>) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(data);
    b.set_input(input);
    let out = build_into(&mut b, op, input, 0)?;
    b.set_output(out);
    Ok(b.finish())
}

/// Adds a Rabenseifner allreduce of `input` to `b` with tags
/// `tag..=tag + 64`; returns the buffer holding the result (`input`, which
/// the schedule overwrites). Fails for non-commutative operators.
pub fn build_into(b: &mut ScheduleBuilder, op: &Arc<dyn ReduceOp>, input: BufId, tag: u32) -> Result<BufId, CollError> {
    let (rank, size) = (b.rank(), b.size());
    let len = b.whole(input).len();
    check_elements(op.as_ref(), len)?;
    let fold = Fold::new(size);
    let FoldedReduceScatter { new, extra, tmp, at } = match reduce_scatter_folded(b, op, input, tag, KEY)? {
        Some(parts) => parts,
        None => {
            b.recv(fold_partner(rank), tag + 64, b.whole(input), &[])?;
            return Ok(input);
        }
    };
    let (mut mask, mut round) = (1usize, 0u32);
    while mask < fold.p2 {
        let partner = fold.real(new ^ mask);
        let mine = new & !(mask - 1);
        let theirs = mine ^ mask;
        b.send(partner, tag + 32 + round, Region::new(input, at(mine, mine + mask)), &[])?;
        let r = at(theirs, theirs + mask);
        b.recv(partner, tag + 32 + round, Region::new(tmp, r.clone()), &[])?;
        b.copy(Region::new(tmp, r.clone()), Region::new(input, r), &[])?;
        mask *= 2;
        round += 1;
    }
    if let Some(e) = extra {
        b.send(e, tag + 64, b.whole(input), &[])?;
    }
    Ok(input)
}

fn fold_partner(rank: usize) -> usize {
    rank + 1
}

/// What a member knows after [`reduce_scatter_folded`].
pub(crate) struct FoldedReduceScatter {
    /// Its number among the `p2` members.
    pub new: usize,
    /// The extra rank it stands in for.
    pub extra: Option<usize>,
    /// A scratch buffer as long as the vector.
    pub tmp: BufId,
    /// Byte range of chunks `lo..hi`.
    pub at: Box<dyn Fn(usize, usize) -> std::ops::Range<usize>>,
}

/// The hand-in and recursive-halving reduce-scatter shared by the
/// Rabenseifner allreduce and reduce: afterwards member `new` holds the
/// fully reduced chunk `new` (of `p2` equal chunks) in `input`. An extra
/// rank only sends its vector (tag `tag`) and gets `None`.
pub(crate) fn reduce_scatter_folded(
    b: &mut ScheduleBuilder,
    op: &Arc<dyn ReduceOp>,
    input: BufId,
    tag: u32,
    key: &str,
) -> Result<Option<FoldedReduceScatter>, CollError> {
    if !op.commutative() {
        return Err(CollError::Invalid(format!("{key} needs a commutative operator")));
    }
    let (rank, size) = (b.rank(), b.size());
    let len = b.whole(input).len();
    let elem = op.elem_size();
    let fold = Fold::new(size);
    let (new, extra) = match fold.role(rank) {
        FoldRole::Extra { partner } => {
            b.send(partner, tag, b.whole(input), &[])?;
            return Ok(None);
        }
        FoldRole::Member { new, extra } => (new, extra),
    };
    let tmp = b.zeroed(len);
    if let Some(e) = extra {
        b.recv(e, tag, b.whole(tmp), &[])?;
        b.reduce(op, b.whole(tmp), b.whole(input), OperandOrder::SrcFirst, &[])?;
    }
    let (p2, count) = (fold.p2, len / elem);
    let at = move |lo: usize, hi: usize| chunk(lo, p2, count, elem).start..chunk(hi, p2, count, elem).start;
    let (mut lo, mut hi) = (0usize, p2);
    let (mut mask, mut round) = (p2 / 2, 0u32);
    while mask > 0 {
        let partner = fold.real(new ^ mask);
        let mid = lo + mask;
        let (keep, give) = if new & mask == 0 { ((lo, mid), (mid, hi)) } else { ((mid, hi), (lo, mid)) };
        b.send(partner, tag + 1 + round, Region::new(input, at(give.0, give.1)), &[])?;
        let r = at(keep.0, keep.1);
        b.recv(partner, tag + 1 + round, Region::new(tmp, r.clone()), &[])?;
        b.reduce(op, Region::new(tmp, r.clone()), Region::new(input, r), OperandOrder::SrcFirst, &[])?;
        (lo, hi) = keep;
        mask /= 2;
        round += 1;
    }
    Ok(Some(FoldedReduceScatter { new, extra, tmp, at: Box::new(at) }))
}
