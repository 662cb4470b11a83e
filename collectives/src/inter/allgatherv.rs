//! Intercommunicator allgatherv: every process sends its block to the
//! other group's rank 0 (which alone with its group knows the counts),
//! which assembles the image and broadcasts it in its group.

use super::gatherv::receive_blocks;
use super::{embed_over, Sides, CROSS, PHASE2};
use crate::layout::Layout;
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_allgatherv:leader_gather_bcast";

/// Adds the allgatherv to `b` (see [`Collective::inter_allgatherv`](crate::Collective::inter_allgatherv)).
pub fn build_into(b: &mut ScheduleBuilder, sides: Sides, data: Vec<u8>, recv: Layout) -> Result<(), CollError> {
    let input = b.buffer(data);
    b.set_input(input);
    b.send(sides.remote_rank(0)?, CROSS, b.whole(input), &[])?;
    let image = if sides.local_rank() == 0 { Some(receive_blocks(b, &sides.remote(), &recv)?) } else { None };
    let args = CollArgs { root: 0, data: vec![0; recv.extent()], ..CollArgs::default() };
    let e = embed_over(b, &sides.local(), CollectiveKind::Bcast, args, PHASE2, image)?;
    if let Some(out) = e.output {
        b.set_output(out);
    }
    Ok(())
}
