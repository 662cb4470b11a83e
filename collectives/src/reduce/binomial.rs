//! Binomial-tree reduce that keeps rank order.
//!
//! Rank `v` owns the contiguous block `[v, v + lowbit(v))` of ranks. It
//! receives the partial results of its children `v + 1, v + 2, v + 4, ...`
//! (each into its own buffer, all posted at once) and folds them in
//! increasing order, `acc = acc op child`, so the accumulator always holds
//! the reduction of a contiguous, increasing block of ranks. Then it sends
//! the accumulator to its parent `v - lowbit(v)`.
//!
//! For a commutative operator the tree is rooted at `root` (ranks are
//! renumbered relative to it). For a non-commutative one renumbering would
//! rotate the operand order, so the tree is rooted at rank 0 and, if the
//! root is another rank, rank 0 forwards the result to it: one extra message.
//!
//! Tags: `tag` for the tree, `tag + 1` for the forward to the root.

use std::sync::Arc;

use crate::schedule::{check_elements, BufId, OperandOrder, Schedule, ScheduleBuilder};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "reduce:binomial";

/// The reduce schedule for this rank's contribution `data`; the output is
/// the result on `root` and empty elsewhere.
pub fn build(
    rank: usize,
    size: usize,
    root: usize,
    data: Vec<u8>,
    op: &Arc<dyn ReduceOp>,
) -> Result<Schedule, CollError> {
    super::schedule(rank, size, root, data, op, build_into)
}

/// Adds a binomial reduce of `input` to `root` to `b`, using tags `tag` and
/// `tag + 1`; returns the buffer holding the result on the root (`None`
/// elsewhere). `input` is only read.
pub fn build_into(
    b: &mut ScheduleBuilder,
    root: usize,
    op: &Arc<dyn ReduceOp>,
    input: BufId,
    tag: u32,
) -> Result<Option<BufId>, CollError> {
    let (rank, size) = (b.rank(), b.size());
    if root >= size {
        return Err(CollError::Invalid(format!("root {root} out of range for size {size}")));
    }
    let len = b.whole(input).len();
    check_elements(op.as_ref(), len)?;
    let tree_root = if op.commutative() { root } else { 0 };
    let v = (rank + size - tree_root) % size;
    let span = if v == 0 { size.next_power_of_two() } else { v & v.wrapping_neg() };
    let mut acc = input;
    let mut mask = 1;
    while mask < span && v + mask < size {
        let child = (v + mask + tree_root) % size;
        let incoming = b.zeroed(len);
        b.recv(child, tag, b.whole(incoming), &[])?;
        // incoming = acc op incoming: the child's block follows ours.
        b.reduce(op, b.whole(acc), b.whole(incoming), OperandOrder::SrcFirst, &[])?;
        acc = incoming;
        mask *= 2;
    }
    if v != 0 {
        let parent = (v - span + tree_root) % size;
        b.send(parent, tag, b.whole(acc), &[])?;
    }
    if tree_root == root {
        return Ok((rank == root).then_some(acc));
    }
    if rank == tree_root {
        b.send(root, tag + 1, b.whole(acc), &[])?;
        Ok(None)
    } else if rank == root {
        let out = b.zeroed(len);
        b.recv(tree_root, tag + 1, b.whole(out), &[])?;
        Ok(Some(out))
    } else {
        Ok(None)
    }
}
