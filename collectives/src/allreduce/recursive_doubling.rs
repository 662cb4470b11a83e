//! Recursive-doubling allreduce, for any size and any operator.
//!
//! With `p2` the largest power of two not above `size` and `rem = size - p2`,
//! the first `2 * rem` ranks pair up: each even rank sends its vector to the
//! odd rank above it and sits out. The `p2` remaining ranks (new numbers:
//! `rank / 2` below `2 * rem`, `rank - rem` above) exchange their whole
//! accumulators with the partner `new ^ 2^k` in round k and combine them.
//! Finally each odd rank of a pair sends the result to its even rank.
//!
//! Rank order is kept: new numbers are increasing in real rank and each
//! accumulator covers a contiguous block of them, so each round combines
//! `lower op upper`; both partners compute the same bytes. `log2(p2) + 2`
//! steps of latency, full vectors every round: suited to short vectors.
//!
//! Tags: `tag` for the pairing, `tag + 1 + k` for round k (k < 63),
//! `tag + 64` for the final hand-back.

use std::sync::Arc;

use crate::schedule::{check_elements, BufId, OperandOrder, Schedule, ScheduleBuilder};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "allreduce:recursive_doubling";

/// Largest tag offset used above the caller's base.
pub const TAG_SPAN: u32 = 64;

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

/// Adds a recursive-doubling allreduce of `input` to `b` with tags
/// `tag..=tag + 64`; returns the buffer that holds the result (may be `input`,
/// which the schedule overwrites).
pub fn build_into(b: &mut ScheduleBuilder, op: &Arc<dyn ReduceOp>, input: BufId, tag: u32) -> Result<BufId, CollError> {
    let (rank, size) = (b.rank(), b.size());
    let len = b.whole(input).len();
    check_elements(op.as_ref(), len)?;
    let p2 = if size.is_power_of_two() { size } else { size.next_power_of_two() / 2 };
    let rem = size - p2;
    let mut acc = input;
    if rank < 2 * rem && rank % 2 == 0 {
        b.send(rank + 1, tag, b.whole(acc), &[])?;
        b.recv(rank + 1, tag + TAG_SPAN, b.whole(acc), &[])?;
        return Ok(acc);
    }
    let mut spare = b.zeroed(len);
    let new_rank = if rank < 2 * rem {
        b.recv(rank - 1, tag, b.whole(spare), &[])?;
        // acc = spare op acc: the even neighbour comes first.
        b.reduce(op, b.whole(spare), b.whole(acc), OperandOrder::SrcFirst, &[])?;
        rank / 2
    } else {
        rank - rem
    };
    let mut mask = 1;
    let mut round = 0;
    while mask < p2 {
        let partner_new = new_rank ^ mask;
        let partner = if partner_new < rem { partner_new * 2 + 1 } else { partner_new + rem };
        let round_tag = tag + 1 + round;
        b.send(partner, round_tag, b.whole(acc), &[])?;
        b.recv(partner, round_tag, b.whole(spare), &[])?;
        // The result goes to `spare`, so `acc` stays untouched while its send runs.
        let order = if partner_new < new_rank && !op.commutative() {
            OperandOrder::DstFirst // spare = spare op acc
        } else {
            OperandOrder::SrcFirst // spare = acc op spare
        };
        b.reduce(op, b.whole(acc), b.whole(spare), order, &[])?;
        std::mem::swap(&mut acc, &mut spare);
        mask *= 2;
        round += 1;
    }
    if rank < 2 * rem {
        b.send(rank - 1, tag + TAG_SPAN, b.whole(acc), &[])?;
    }
    Ok(acc)
}
