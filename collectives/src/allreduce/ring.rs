//! Ring allreduce for commutative operators: a reduce-scatter around the
//! ring followed by an allgather around the ring.
//!
//! The vector is cut into `size` chunks of whole elements (sizes differ by
//! at most one element; some are empty when there are fewer elements than
//! ranks), each copied into its own buffer so that a chunk can be sent
//! while another is received, and copied back into place at the end. In reduce-scatter step `s` rank `r` sends chunk `r - s` to its
//! right neighbour and folds the chunk `r - s - 1` it receives from its left
//! neighbour into its own; after `size - 1` steps it holds the final chunk
//! `r + 1`. The allgather then passes the final chunks around the ring,
//! received straight into place. Each rank sends about `2 (size-1)/size`
//! times the vector: bandwidth-optimal, `2 (size - 1)` steps of latency,
//! suited to long vectors.
//!
//! Chunks are combined in ring order, not rank order, so the operator must
//! be commutative.
//!
//! Tags: `tag` for the reduce-scatter, `tag + 1` for the allgather. Each
//! send waits for the previous send and each receive for the previous
//! receive, so messages on one tag match in order.

use std::sync::Arc;

use crate::schedule::{check_elements, BufId, OperandOrder, Region, Schedule, ScheduleBuilder, StepId};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "allreduce:ring";

/// The allreduce schedule for this rank's contribution `data`; the output
/// is the reduced vector.
pub fn build(rank: usize, size: usize, data: Vec<u8>, op: &Arc<dyn ReduceOp>) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(data);
    b.set_input(input);
    build_into(&mut b, op, input, 0)?;
    b.set_output(input);
    Ok(b.finish())
}

/// Byte range of chunk `i` of `count` elements of `elem` bytes cut into `n` chunks.
fn chunk(i: usize, n: usize, count: usize, elem: usize) -> std::ops::Range<usize> {
    let (base, extra) = (count / n, count % n);
    let start = i * base + i.min(extra);
    let len = base + usize::from(i < extra);
    start * elem..(start + len) * elem
}

/// Adds a ring allreduce of `input`, in place, to `b` with tags `tag` and
/// `tag + 1`. Fails for non-commutative operators.
pub fn build_into(b: &mut ScheduleBuilder, op: &Arc<dyn ReduceOp>, input: BufId, tag: u32) -> Result<(), CollError> {
    if !op.commutative() {
        return Err(CollError::Invalid(format!("{KEY} needs a commutative operator")));
    }
    let (rank, size) = (b.rank(), b.size());
    let len = b.whole(input).len();
    check_elements(op.as_ref(), len)?;
    if size == 1 {
        return Ok(());
    }
    let elem = op.elem_size();
    let count = len / elem;
    let at = |i: usize| chunk(i % size, size, count, elem);
    let right = (rank + 1) % size;
    let left = (rank + size - 1) % size;
    // Each chunk gets its own buffer, so sending one chunk while receiving
    // another never touches one buffer from two operations (see `schedule`).
    let mut chunks = Vec::with_capacity(size);
    for i in 0..size {
        let c = b.zeroed(at(i).len());
        b.copy(Region::new(input, at(i)), b.whole(c), &[])?;
        chunks.push(c);
    }
    let spare = b.zeroed(at(0).len());
    let mut last_send: Option<StepId> = None;
    let mut last_recv: Option<StepId> = None;
    let after = |s: Option<StepId>| -> Vec<StepId> { s.into_iter().collect() };
    for s in 0..size - 1 {
        let out = chunks[(rank + size - s) % size];
        last_send = Some(b.send(right, tag, b.whole(out), &after(last_send))?);
        let into = chunks[(rank + 2 * size - s - 1) % size];
        let incoming = Region::new(spare, 0..b.whole(into).len());
        last_recv = Some(b.recv(left, tag, incoming.clone(), &after(last_recv))?);
        b.reduce(op, incoming, b.whole(into), OperandOrder::SrcFirst, &[])?;
    }
    for s in 0..size - 1 {
        let out = chunks[(rank + 1 + size - s) % size];
        last_send = Some(b.send(right, tag + 1, b.whole(out), &after(last_send))?);
        let into = chunks[(rank + size - s) % size];
        last_recv = Some(b.recv(left, tag + 1, b.whole(into), &after(last_recv))?);
    }
    for (i, c) in chunks.into_iter().enumerate() {
        b.copy(b.whole(c), Region::new(input, at(i)), &[])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::chunk;

    #[test]
    fn chunks_tile_the_vector_in_whole_elements() {
        for n in 1..20 {
            for count in 0..50 {
                let mut next = 0;
                for i in 0..n {
                    let r = chunk(i, n, count, 4);
                    assert_eq!(r.start, next);
                    assert_eq!(r.len() % 4, 0);
                    assert!(r.len() / 4 <= count / n + 1);
                    next = r.end;
                }
                assert_eq!(next, count * 4);
            }
        }
    }
}
