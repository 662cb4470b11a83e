//! Alltoallv algorithms (`MPI_Alltoallv`, and `MPI_Alltoallw` in byte
//! form): each rank sends a block of its own size to every rank; send and
//! receive [`Layout`](crate::Layout)s are per rank and known only locally,
//! so selection never looks at them.

pub mod linear;
pub mod pairwise;

use crate::layout::Layout;
use crate::schedule::{BufId, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// How an algorithm adds an alltoallv from `input` (blocks per the send
/// layout) into `out` (blocks per the receive layout) to a builder.
type BuildInto = fn(&mut ScheduleBuilder, BufId, &Layout, BufId, &Layout, u32) -> Result<(), CollError>;

/// The whole alltoallv schedule, built by `into`.
fn schedule(a: CollArgs, into: BuildInto) -> Result<Schedule, CollError> {
    let (send, recv) = a.alltoallv_layouts()?;
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let out = b.zeroed(recv.extent());
    into(&mut b, input, &send, out, &recv, 0)?;
    b.set_output(out);
    Ok(b.finish())
}
