//! Recursive-halving reduce-scatter with equal blocks (commutative
//! operators): [`reduce_scatter::recursive_halving`].
//!
//! Tags: 0, `1 + k`, 64.

use std::sync::Arc;

use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{reduce_scatter, CollError};

/// Registry key.
pub const KEY: &str = "reduce_scatter_block:recursive_halving";

/// The schedule (see [`Collective::reduce_scatter_block`](crate::Collective::reduce_scatter_block)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let op = Arc::clone(a.op()?);
    let counts = vec![a.data.len() / a.size; a.size];
    reduce_scatter::recursive_halving::build_counts(a.rank, a.size, a.data, &counts, &op, KEY)
}
