//! Allreduce as a binomial reduce to rank 0 followed by a binomial
//! broadcast from it. Twice the latency of recursive doubling, but it keeps
//! rank order with no extra scratch copies and is the conservative choice
//! for non-commutative operators.
//!
//! Tags: `tag` and `tag + 1` for the reduce, `tag + 2` for the broadcast.

use std::sync::Arc;

use crate::schedule::{BufId, Schedule, ScheduleBuilder};
use crate::{bcast, reduce, CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "allreduce:reduce_bcast";

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

/// Adds the reduce-then-broadcast allreduce of `input` to `b` with tags
/// `tag..=tag + 2`; returns the buffer holding the result.
pub fn build_into(b: &mut ScheduleBuilder, op: &Arc<dyn ReduceOp>, input: BufId, tag: u32) -> Result<BufId, CollError> {
    let len = b.whole(input).len();
    let out = match reduce::binomial::build_into(b, 0, op, input, tag)? {
        Some(result) => result,
        None => b.zeroed(len),
    };
    bcast::binomial::build_into(b, 0, out, tag + 2)?;
    Ok(out)
}
