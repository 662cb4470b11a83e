//! Linear gatherv: every rank sends its block straight to the root, which
//! posts all its receives at once (each into its own buffer, so they run
//! concurrently) and copies the blocks into place. One step of latency,
//! `size - 1` messages into the root. It needs nothing but the root's
//! layout, so it serves `MPI_Gatherv`, whose counts only the root knows.
//!
//! Tags: one tag (`tag`).

use crate::layout::Layout;
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::CollError;

/// Registry key.
pub const KEY: &str = "gatherv:linear";

/// The gatherv schedule (see [`Collective::gatherv`](crate::Collective::gatherv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let layout = if a.rank == a.root { Some(a.recv_layout()?.clone()) } else { None };
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let Some(layout) = layout else {
        let own = b.whole(input);
        build_into(&mut b, a.root, own, None, 0)?;
        return Ok(b.finish());
    };
    let (out, own) = if a.in_place {
        (input, Region::new(input, layout.block(a.rank)))
    } else {
        (b.zeroed(layout.extent()), b.whole(input))
    };
    build_into(&mut b, a.root, own, Some((out, &layout, a.in_place)), 0)?;
    b.set_output(out);
    Ok(b.finish())
}

/// Adds a linear gatherv to `b`. `own` is this rank's block. On the root
/// `dest` is `(image, layout, own_in_place)`: the blocks land in `image`
/// at the layout's places; `own` is copied there unless `own_in_place`
/// says it already is. Elsewhere `dest` is `None`.
pub fn build_into(
    b: &mut ScheduleBuilder,
    root: usize,
    own: crate::Region,
    dest: Option<(BufId, &Layout, bool)>,
    tag: u32,
) -> Result<(), CollError> {
    let (rank, size) = (b.rank(), b.size());
    let Some((out, layout, own_in_place)) = dest else {
        if rank == root {
            return Err(CollError::Invalid("gatherv root without a layout".into()));
        }
        b.send(root, tag, own, &[])?;
        return Ok(());
    };
    if !own_in_place {
        b.copy(own, Region::new(out, layout.block(rank)), &[])?;
    }
    let mut landed = Vec::with_capacity(size);
    for i in (0..size).filter(|&i| i != rank) {
        let tmp = b.zeroed(layout.count(i));
        b.recv(i, tag, b.whole(tmp), &[])?;
        landed.push((i, tmp));
    }
    for (i, tmp) in landed {
        b.copy(b.whole(tmp), Region::new(out, layout.block(i)), &[])?;
    }
    Ok(())
}
