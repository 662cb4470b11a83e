//! Linear gather: [`gatherv::linear`] with equal
//! blocks. One step of latency; the root receives from everyone at once.
//! Suited to large blocks, where forwarding through a tree costs bandwidth.
//!
//! Tags: 0.

use crate::layout::Layout;
use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{gatherv, CollError};

/// Registry key.
pub const KEY: &str = "gather:linear";

/// The gather schedule (see [`Collective::gather`](crate::Collective::gather)).
pub fn build(mut a: CollArgs) -> Result<Schedule, CollError> {
    if a.rank == a.root {
        let block = if a.in_place { a.data.len() / a.size } else { a.data.len() };
        a.recv_layout = Some(Layout::uniform(a.size, block));
    }
    gatherv::linear::build(a)
}
