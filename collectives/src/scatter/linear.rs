//! Linear scatter: [`scatterv::linear`] with equal
//! blocks. One step of latency, all sends from the root at once; suited to
//! large blocks.
//!
//! Tags: 0.

use crate::layout::Layout;
use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{scatterv, CollError};

/// Registry key.
pub const KEY: &str = "scatter:linear";

/// The scatter schedule (see [`Collective::scatter`](crate::Collective::scatter)).
pub fn build(mut a: CollArgs) -> Result<Schedule, CollError> {
    if a.rank == a.root {
        a.send_layout = Some(Layout::uniform(a.size, a.block));
    }
    scatterv::linear::build(a)
}
