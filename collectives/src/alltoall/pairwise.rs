//! Pairwise-exchange alltoall: [`alltoallv::pairwise`]
//! with equal blocks. Suited to large blocks.
//!
//! Tags: 0.

use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{alltoallv, CollError};

/// Registry key.
pub const KEY: &str = "alltoall:pairwise";

/// The alltoall schedule (see [`Collective::alltoall`](crate::Collective::alltoall)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    alltoallv::pairwise::build(a.uniform_alltoall())
}
