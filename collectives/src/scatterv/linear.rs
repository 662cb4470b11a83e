//! Linear scatterv: the root sends each rank its block straight from the
//! send image, all sends posted at once; every other rank posts one
//! receive. One step of latency. It needs nothing but the root's layout
//! and each rank's own count, so it serves `MPI_Scatterv`.
//!
//! Tags: one tag (`tag`).

use crate::layout::Layout;
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "scatterv:linear";

/// The scatterv schedule (see [`Collective::scatterv`](crate::Collective::scatterv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let layout = if a.rank == a.root { Some(a.send_layout()?.clone()) } else { None };
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let out = if let Some(layout) = layout {
        build_into(&mut b, a.root, Some((input, &layout)), a.block, !a.in_place, 0)?
    } else {
        build_into(&mut b, a.root, None, a.block, true, 0)?
    };
    if let Some(out) = out {
        b.set_output(out);
    }
    Ok(b.finish())
}

/// Adds a linear scatterv to `b`. On the root `source` is the send image
/// and its layout; elsewhere `None`, and `count` is the bytes to receive.
/// Returns the buffer holding this rank's block, except on the root when
/// `root_keeps` is false (in place: its block stays in the image).
pub fn build_into(
    b: &mut ScheduleBuilder,
    root: usize,
    source: Option<(BufId, &Layout)>,
    count: usize,
    root_keeps: bool,
    tag: u32,
) -> Result<Option<BufId>, CollError> {
    let (rank, size) = (b.rank(), b.size());
    let Some((image, layout)) = source else {
        if rank == root {
            return Err(CollError::Invalid("scatterv root without a layout".into()));
        }
        let out = b.zeroed(count);
        b.recv(root, tag, b.whole(out), &[])?;
        return Ok(Some(out));
    };
    for i in (1..size).map(|k| (rank + k) % size) {
        b.send(i, tag, Region::new(image, layout.block(i)), &[])?;
    }
    if !root_keeps {
        return Ok(None);
    }
    let out = b.zeroed(layout.count(rank));
    b.copy(Region::new(image, layout.block(rank)), b.whole(out), &[])?;
    Ok(Some(out))
}
