//! Recursive-doubling exclusive scan (`MPI_Exscan`), order-preserving:
//! the scan of [`scan::recursive_doubling`]
//! without the rank's own operand in its result. Rank 0 has no result
//! (its output is empty; MPI leaves its receive buffer undefined).
//!
//! Tags: round k uses tag k.

use std::sync::Arc;

use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{scan, CollError};

/// Registry key.
pub const KEY: &str = "exscan:recursive_doubling";

/// The exscan schedule (see [`Collective::exscan`](crate::Collective::exscan)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let op = Arc::clone(a.op()?);
    scan::recursive_doubling::build_prefix(a.rank, a.size, a.data, &op, true)
}
