//! Recursive-halving reduce-scatter for commutative operators, for every
//! size and uneven counts.
//!
//! The communicator is folded onto a power of two `p2` (see the fold in
//! `layout`): extra even ranks hand their vector to the odd rank above,
//! which combines it. Member `j` stands for a contiguous run of real ranks,
//! hence for a contiguous byte range of the vector (their blocks). In round
//! k (mask `p2/2, ..., 1`) a member keeps the half of its current member
//! range on its side of `j ^ mask`, sends the other half's bytes to that
//! partner and folds in the partner's copy of its own half. At the end it
//! holds its members' blocks fully reduced and hands the extra its block.
//! `log2(p2) + 2` steps, about the vector sent per rank.
//!
//! Tags: 0 for the hand-in, `1 + k` for round k, 64 for the hand-back.

use std::sync::Arc;

use crate::layout::{Fold, FoldRole, Layout};
use crate::schedule::{OperandOrder, Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "reduce_scatter:recursive_halving";

/// The reduce-scatter schedule (see [`Collective::reduce_scatter`](crate::Collective::reduce_scatter)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let op = Arc::clone(a.op()?);
    let counts = a.recv_layout()?.counts().to_vec();
    build_counts(a.rank, a.size, a.data, &counts, &op, KEY)
}

/// The schedule for blocks of `counts` bytes (shared with reduce_scatter_block).
pub(crate) fn build_counts(
    rank: usize,
    size: usize,
    data: Vec<u8>,
    counts: &[usize],
    op: &Arc<dyn ReduceOp>,
    key: &str,
) -> Result<Schedule, CollError> {
    if !op.commutative() {
        return Err(CollError::Invalid(format!("{key} needs a commutative operator")));
    }
    let layout = Layout::contiguous(counts.to_vec());
    let mut b = ScheduleBuilder::new(rank, size)?;
    let acc = b.buffer(data);
    b.set_input(acc);
    let out = b.zeroed(layout.count(rank));
    b.set_output(out);
    let fold = Fold::new(size);
    let prefix: Vec<usize> = std::iter::once(0)
        .chain(counts.iter().scan(0, |at, c| {
            *at += c;
            Some(*at)
        }))
        .collect();
    let start = |r: usize| prefix[r];
    let bytes = |lo: usize, hi: usize| start(fold.first_rank(lo))..start(fold.first_rank(hi));
    match fold.role(rank) {
        FoldRole::Extra { partner } => {
            b.send(partner, 0, b.whole(acc), &[])?;
            b.recv(partner, 64, b.whole(out), &[])?;
        }
        FoldRole::Member { new, extra } => {
            let tmp = b.zeroed(layout.total());
            if let Some(e) = extra {
                b.recv(e, 0, b.whole(tmp), &[])?;
                b.reduce(op, b.whole(tmp), b.whole(acc), OperandOrder::SrcFirst, &[])?;
            }
            let (mut lo, mut hi) = (0usize, fold.p2);
            let (mut mask, mut round) = (fold.p2 / 2, 0u32);
            while mask > 0 {
                let partner = fold.real(new ^ mask);
                let mid = lo + mask;
                let (keep, give) = if new & mask == 0 { ((lo, mid), (mid, hi)) } else { ((mid, hi), (lo, mid)) };
                b.send(partner, 1 + round, Region::new(acc, bytes(give.0, give.1)), &[])?;
                let r = bytes(keep.0, keep.1);
                b.recv(partner, 1 + round, Region::new(tmp, r.clone()), &[])?;
                b.reduce(op, Region::new(tmp, r.clone()), Region::new(acc, r), OperandOrder::SrcFirst, &[])?;
                (lo, hi) = keep;
                mask /= 2;
                round += 1;
            }
            if let Some(e) = extra {
                b.send(e, 64, Region::new(acc, layout.block(e)), &[])?;
            }
            b.copy(Region::new(acc, layout.block(rank)), b.whole(out), &[])?;
        }
    }
    Ok(b.finish())
}
