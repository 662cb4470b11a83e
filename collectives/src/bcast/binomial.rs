//! Binomial-tree broadcast. Ranks are renumbered relative to the root
//! (`v = (rank - root) mod size`); rank `v` receives from `v` minus its
//! lowest set bit and forwards to `v + 2^j` for every `2^j` below that bit
//! (the root: below the next power of two), largest subtree first.
//! `ceil(log2 size)` steps of latency, every byte sent `size - 1` times in
//! total; suited to small and medium messages.
//!
//! Tags: one tag (`tag`, the caller's base) for every message.

use crate::schedule::{BufId, Schedule, ScheduleBuilder};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "bcast:binomial";

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

/// Adds a binomial broadcast of `buf` from `root` to `b`, using tag `tag`.
/// On the root `buf` must hold the payload once earlier steps that write it
/// are done (the builder orders them); elsewhere it receives the payload.
pub fn build_into(b: &mut ScheduleBuilder, root: usize, buf: BufId, tag: u32) -> Result<(), CollError> {
    let (rank, size) = (b.rank(), b.size());
    if root >= size {
        return Err(CollError::Invalid(format!("root {root} out of range for size {size}")));
    }
    let v = (rank + size - root) % size;
    let region = b.whole(buf);
    let span = if v == 0 {
        size.next_power_of_two()
    } else {
        let lowbit = v & v.wrapping_neg();
        b.recv((v - lowbit + root) % size, tag, region.clone(), &[])?;
        lowbit
    };
    let mut mask = span / 2;
    while mask > 0 {
        if v + mask < size {
            b.send((v + mask + root) % size, tag, region.clone(), &[])?;
        }
        mask /= 2;
    }
    Ok(())
}
