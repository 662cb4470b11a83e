//! Scatter + allgather broadcast (van de Geijn): the root's payload is cut
//! into `size` chunks; a binomial scatter gives virtual rank `v` (ranks
//! renumbered relative to the root) chunk `v`, and a ring allgather of the
//! chunks rebuilds the payload everywhere. Each rank receives about twice
//! the payload once instead of the whole payload `log2(size)` times down a
//! tree: suited to large messages.
//!
//! Tags: `tag` for the scatter, `tag + 1` for the ring.

use crate::layout::chunk;
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder};
use crate::{allgatherv, CollError};

/// Registry key.
pub const KEY: &str = "bcast:scatter_allgather";

/// The broadcast schedule: `data` is the payload on `root` and a buffer of
/// the expected length elsewhere; the result is that same buffer.
pub fn build(rank: usize, size: usize, root: usize, data: Vec<u8>) -> Result<Schedule, CollError> {
    let mut b = ScheduleBuilder::new(rank, size)?;
    let buf = b.buffer(data);
    b.set_input(buf);
    build_into(&mut b, root, buf, 0)?;
    b.set_output(buf);
    Ok(b.finish())
}

/// Adds a scatter + allgather broadcast of `buf` from `root` to `b`, with
/// tags `tag` and `tag + 1`.
pub fn build_into(b: &mut ScheduleBuilder, root: usize, buf: BufId, tag: u32) -> Result<(), CollError> {
    let (rank, size) = (b.rank(), b.size());
    if root >= size {
        return Err(CollError::Invalid(format!("root {root} out of range for size {size}")));
    }
    if size == 1 {
        return Ok(());
    }
    let len = b.whole(buf).len();
    let at = |w: usize| chunk(w, size, len, 1);
    let run = |lo: usize, hi: usize| at(lo).start..at(hi.min(size)).start;
    let real = |w: usize| (w + root) % size;
    let v = (rank + size - root) % size;
    let span = if v == 0 {
        size.next_power_of_two()
    } else {
        let lowbit = v & v.wrapping_neg();
        b.recv(real(v - lowbit), tag, Region::new(buf, run(v, v + lowbit)), &[])?;
        lowbit
    };
    let mut mask = span / 2;
    while mask > 0 {
        if v + mask < size {
            b.send(real(v + mask), tag, Region::new(buf, run(v + mask, v + 2 * mask)), &[])?;
        }
        mask /= 2;
    }
    let chunks: Vec<BufId> = (0..size).map(|w| b.zeroed(at(w).len())).collect();
    b.copy(Region::new(buf, at(v)), b.whole(chunks[v]), &[])?;
    allgatherv::ring::ring_blocks(b, &chunks, v, &real, tag + 1)?;
    if v != 0 {
        for (w, c) in chunks.iter().enumerate() {
            if w != v {
                b.copy(b.whole(*c), Region::new(buf, at(w)), &[])?;
            }
        }
    }
    Ok(())
}
