//! Linear ("post everything") alltoall: [`alltoallv::linear`]
//! with equal blocks. Suited to medium blocks.
//!
//! Tags: 0.

use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{alltoallv, CollError};

/// Registry key.
pub const KEY: &str = "alltoall:linear";

/// The alltoall schedule (see [`Collective::alltoall`](crate::Collective::alltoall)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    alltoallv::linear::build(a.uniform_alltoall())
}
