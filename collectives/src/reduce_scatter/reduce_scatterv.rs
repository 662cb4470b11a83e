//! Reduce-scatter as a binomial reduce to rank 0 (which keeps rank order)
//! followed by a linear scatterv of the blocks: correct for every
//! operator, the choice for non-commutative ones. `log2(size) + 1` steps,
//! but rank 0 receives `log2(size)` whole vectors.
//!
//! Tags: 0 and 1 for the reduce, 2 for the scatterv.

use std::sync::Arc;

use crate::layout::Layout;
use crate::schedule::{Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::{reduce, scatterv, CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "reduce_scatter:reduce_scatterv";

/// The reduce-scatter schedule (see [`Collective::reduce_scatter`](crate::Collective::reduce_scatter)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let op = Arc::clone(a.op()?);
    let counts = a.recv_layout()?.counts().to_vec();
    build_counts(a.rank, a.size, a.data, &counts, &op)
}

/// The schedule for blocks of `counts` bytes (shared with reduce_scatter_block).
pub(crate) fn build_counts(
    rank: usize,
    size: usize,
    data: Vec<u8>,
    counts: &[usize],
    op: &Arc<dyn ReduceOp>,
) -> Result<Schedule, CollError> {
    let layout = Layout::contiguous(counts.to_vec());
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(data);
    b.set_input(input);
    let reduced = reduce::binomial::build_into(&mut b, 0, op, input, 0)?;
    let source = reduced.map(|buf| (buf, &layout));
    let out = scatterv::linear::build_into(&mut b, 0, source, layout.count(rank), true, 2)?;
    if let Some(out) = out {
        b.set_output(out);
    }
    Ok(b.finish())
}
