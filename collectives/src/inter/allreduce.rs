//! Intercommunicator allreduce: each group reduces to its rank 0 (the
//! intra-communicator reduce, rank order kept), the two leaders swap
//! their results, and each leader broadcasts the other group's result in
//! its group.

use std::sync::Arc;

use super::{embed_over, Sides, CROSS, PHASE2};
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "inter_allreduce:reduce_swap_bcast";

/// Adds the allreduce to `b` (see [`Collective::inter_allreduce`](crate::Collective::inter_allreduce)).
pub fn build_into(
    b: &mut ScheduleBuilder,
    sides: Sides,
    data: Vec<u8>,
    op: Arc<dyn ReduceOp>,
) -> Result<(), CollError> {
    let len = data.len();
    let local = sides.local();
    let args = CollArgs { root: 0, data, op: Some(op), ..CollArgs::default() };
    let reduced = embed_over(b, &local, CollectiveKind::Reduce, args, 0, None)?;
    if let Some(input) = reduced.input {
        b.set_input(input);
    }
    let theirs = b.zeroed(len);
    let mut bcast_input = None;
    if let Some(mine) = reduced.output {
        let peer = sides.remote_rank(0)?;
        b.recv(peer, CROSS, b.whole(theirs), &[])?;
        b.send(peer, CROSS, b.whole(mine), &[])?;
        bcast_input = Some(theirs);
    }
    let args = CollArgs { root: 0, data: vec![0; len], ..CollArgs::default() };
    let e = embed_over(b, &local, CollectiveKind::Bcast, args, PHASE2, bcast_input)?;
    if let Some(out) = e.output {
        b.set_output(out);
    }
    Ok(())
}
