//! Reduce algorithms (`MPI_Reduce`): the root gets `x_0 op x_1 op ... op x_{n-1}`.

pub mod binomial;
pub mod rabenseifner;
pub mod two_level;

use std::sync::Arc;

use crate::schedule::{BufId, Schedule, ScheduleBuilder};
use crate::{CollError, ReduceOp};

/// How an algorithm adds a reduce of `input` to `root` to a builder (with
/// tags from `tag`), returning the result buffer on the root.
type BuildInto = fn(&mut ScheduleBuilder, usize, &Arc<dyn ReduceOp>, BufId, u32) -> Result<Option<BufId>, CollError>;

/// The whole reduce schedule for this rank's contribution `data`, built by
/// `into`: the output is the result on `root` and empty elsewhere.
fn schedule(
    rank: usize,
    size: usize,
    root: usize,
    data: Vec<u8>,
    op: &Arc<dyn ReduceOp>,
    into: BuildInto,
) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(data);
    b.set_input(input);
    if let Some(out) = into(&mut b, root, op, input, 0)? {
        b.set_output(out);
    }
    Ok(b.finish())
}
