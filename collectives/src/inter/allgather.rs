//! Intercommunicator allgather: each group gathers its blocks to its rank 0
//! (intra-communicator gather), the two leaders swap the images, and each
//! broadcasts the other group's image in its group.

use super::{embed_over, Sides, CROSS, PHASE2};
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_allgather:gather_swap_bcast";

/// Adds the allgather to `b` (see [`Collective::inter_allgather`](crate::Collective::inter_allgather)).
pub fn build_into(b: &mut ScheduleBuilder, sides: Sides, data: Vec<u8>, remote_block: usize) -> Result<(), CollError> {
    let local = sides.local();
    let args = CollArgs { root: 0, data, ..CollArgs::default() };
    let gathered = embed_over(b, &local, CollectiveKind::Gather, args, 0, None)?;
    if let Some(input) = gathered.input {
        b.set_input(input);
    }
    let len = remote_block * sides.remote_size();
    let mut image = None;
    if let Some(mine) = gathered.output {
        let theirs = b.zeroed(len);
        let peer = sides.remote_rank(0)?;
        b.recv(peer, CROSS, b.whole(theirs), &[])?;
        b.send(peer, CROSS, b.whole(mine), &[])?;
        image = Some(theirs);
    }
    let args = CollArgs { root: 0, data: vec![0; len], ..CollArgs::default() };
    let e = embed_over(b, &local, CollectiveKind::Bcast, args, PHASE2, image)?;
    if let Some(out) = e.output {
        b.set_output(out);
    }
    Ok(())
}
