//! Allgatherv as a linear gatherv to rank 0 into a packed buffer, a
//! binomial broadcast of that buffer, and a local unpack into the output
//! image. `2 ceil(log2 size)`-ish latency and few messages, but rank 0
//! receives everything: suited to small totals on many ranks.
//!
//! Tags: `tag` for the gather, `tag + 1` for the broadcast.

use crate::layout::Layout;
use crate::schedule::{BufId, Region, Schedule, ScheduleBuilder};
use crate::select::CollArgs;
use crate::{bcast, gatherv, CollError};

/// Registry key.
pub const KEY: &str = "allgatherv:gather_bcast";

/// The allgatherv schedule (see [`Collective::allgatherv`](crate::Collective::allgatherv)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let layout = a.recv_layout()?.clone();
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let out = build_into(&mut b, &layout, input, a.in_place, 0)?;
    b.set_output(out);
    Ok(b.finish())
}

/// Adds the gather-then-broadcast allgatherv to `b` (arguments as
/// [`super::ring::build_into`]); returns the output image buffer.
pub fn build_into(
    b: &mut ScheduleBuilder,
    layout: &Layout,
    input: BufId,
    in_place: bool,
    tag: u32,
) -> Result<BufId, CollError> {
    let (rank, size) = (b.rank(), b.size());
    let packed = Layout::contiguous(layout.counts().to_vec());
    let own = if in_place { Region::new(input, layout.block(rank)) } else { b.whole(input) };
    let all = b.zeroed(packed.total());
    let dest = (rank == 0).then_some((all, &packed, false));
    gatherv::linear::build_into(b, 0, own, dest, tag)?;
    bcast::binomial::build_into(b, 0, all, tag + 1)?;
    let out = if in_place { input } else { b.zeroed(layout.extent()) };
    for i in 0..size {
        if !(in_place && i == rank) {
            b.copy(Region::new(all, packed.block(i)), Region::new(out, layout.block(i)), &[])?;
        }
    }
    Ok(out)
}
