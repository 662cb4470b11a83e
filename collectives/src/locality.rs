//! Which node each rank of a communicator runs on, for the node-aware
//! (two-level) algorithms.
//!
//! The runtime knows every process's node (from the launcher's process
//! mapping) and sets the map for the duration of building a collective
//! with [`with_nodes`]; [`Collective`](crate::Collective)'s constructors
//! pick it up, so callers that build collectives (the C ABI, the Rust API)
//! need not pass it. The map is the same on every rank, so the selection
//! that reads it ([`Selection::nodes`](crate::select::Selection)) agrees.

use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    static NODES: RefCell<Option<Arc<[usize]>>> = const { RefCell::new(None) };
}

/// Runs `f` with `nodes` (a node id per rank of the communicator being
/// built for) as the current node map of this thread.
pub fn with_nodes<T>(nodes: &[usize], f: impl FnOnce() -> T) -> T {
    let prev = NODES.with(|n| n.borrow_mut().replace(nodes.into()));
    let out = f();
    NODES.with(|n| *n.borrow_mut() = prev);
    out
}

/// The current node map, if one is set.
pub(crate) fn current() -> Option<Arc<[usize]>> {
    NODES.with(|n| n.borrow().clone())
}

/// The ranks of each node, nodes in the order of their lowest rank, ranks
/// ascending.
pub fn groups(nodes: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = Vec::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (rank, &n) in nodes.iter().enumerate() {
        match order.iter().position(|&m| m == n) {
            Some(i) => out[i].push(rank),
            None => {
                order.push(n);
                out.push(vec![rank]);
            }
        }
    }
    out
}

/// Number of distinct nodes, and whether each node's ranks are consecutive
/// (then combining node by node keeps rank order).
pub fn shape(nodes: &[usize]) -> (usize, bool) {
    let g = groups(nodes);
    let contiguous = g.iter().all(|r| r.last().map_or(true, |&last| last - r[0] + 1 == r.len()));
    (g.len(), contiguous)
}
