//! Recursive-doubling inclusive scan (`MPI_Scan`), order-preserving.
//!
//! Each rank keeps a running `partial`, the reduction of ranks
//! `rank - 2^k + 1 ..= rank` (clipped at 0) after round k. In round k it
//! sends `partial` to `rank + 2^k` and receives the partial of
//! `rank - 2^k`, which covers the run of ranks just below its own; it
//! folds that in front of both its result and its partial
//! (`received op mine`), so operands stay in rank order and
//! non-commutative operators are safe. `ceil(log2 size)` steps.
//!
//! Tags: round k uses tag k.

use std::sync::Arc;

use crate::schedule::{check_elements, OperandOrder, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "scan:recursive_doubling";

/// The scan schedule (see [`Collective::scan`](crate::Collective::scan)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let op = Arc::clone(a.op()?);
    build_prefix(a.rank, a.size, a.data, &op, false)
}

/// The inclusive (`exclusive == false`) or exclusive prefix reduction.
/// For the exclusive one rank 0 has no output.
pub(crate) fn build_prefix(
    rank: usize,
    size: usize,
    data: Vec<u8>,
    op: &Arc<dyn ReduceOp>,
    exclusive: bool,
) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let len = data.len();
    check_elements(op.as_ref(), len)?;
    let input = b.buffer(data);
    b.set_input(input);
    let result = b.zeroed(len);
    if !exclusive {
        b.copy(b.whole(input), b.whole(result), &[])?;
    }
    let mut have_result = !exclusive;
    let mut partial = input;
    let mut tmp = b.zeroed(len);
    let (mut mask, mut round) = (1usize, 0u32);
    while mask < size {
        if rank + mask < size {
            b.send(rank + mask, round, b.whole(partial), &[])?;
        }
        if rank >= mask {
            b.recv(rank - mask, round, b.whole(tmp), &[])?;
            if have_result {
                b.reduce(op, b.whole(tmp), b.whole(result), OperandOrder::SrcFirst, &[])?;
            } else {
                b.copy(b.whole(tmp), b.whole(result), &[])?;
                have_result = true;
            }
            if rank + 2 * mask < size {
                // tmp = tmp op partial becomes the new partial.
                b.reduce(op, b.whole(partial), b.whole(tmp), OperandOrder::DstFirst, &[])?;
                std::mem::swap(&mut partial, &mut tmp);
            }
        }
        mask *= 2;
        round += 1;
    }
    if have_result {
        b.set_output(result);
    }
    Ok(b.finish())
}
