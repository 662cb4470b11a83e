//! Reduce-scatter with equal blocks as a binomial reduce and a linear
//! scatter: [`reduce_scatter::reduce_scatterv`].
//! Keeps rank order, so serves non-commutative operators.
//!
//! Tags: 0..=2.

use std::sync::Arc;

use crate::schedule::Schedule;
use crate::select::CollArgs;
use crate::{reduce_scatter, CollError};

/// Registry key.
pub const KEY: &str = "reduce_scatter_block:reduce_scatter";

/// The schedule (see [`Collective::reduce_scatter_block`](crate::Collective::reduce_scatter_block)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let op = Arc::clone(a.op()?);
    let counts = vec![a.data.len() / a.size; a.size];
    reduce_scatter::reduce_scatterv::build_counts(a.rank, a.size, a.data, &counts, &op)
}
