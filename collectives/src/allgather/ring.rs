//! Ring allgather: [`allgatherv::ring`] with equal
//! blocks. `size - 1` steps, bandwidth-optimal; suited to large blocks.
//!
//! Tags: 0.

use crate::layout::Layout;
use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{allgatherv, CollError};

/// Registry key.
pub const KEY: &str = "allgather:ring";

/// The allgather schedule (see [`Collective::allgather`](crate::Collective::allgather)).
pub fn build(mut a: CollArgs) -> Result<Schedule, CollError> {
    let block = if a.in_place { a.data.len() / a.size } else { a.data.len() };
    a.recv_layout = Some(Layout::uniform(a.size, block));
    allgatherv::ring::build(a)
}
