//! Intercommunicator reduce-scatter (and reduce-scatter-block): each group
//! reduces its vectors to its rank 0 (intra-communicator reduce, rank order
//! kept), the two leaders swap the results, and each leader scatters the
//! other group's result over its group by this group's counts.

use std::sync::Arc;

use super::{embed_over, Sides, CROSS, PHASE2};
use crate::layout::Layout;
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "inter_reduce_scatter:reduce_swap_scatterv";

/// Adds the reduce-scatter to `b` (see
/// [`Collective::inter_reduce_scatter`](crate::Collective::inter_reduce_scatter)).
pub fn build_into(
    b: &mut ScheduleBuilder,
    sides: Sides,
    data: Vec<u8>,
    counts: Vec<usize>,
    op: Arc<dyn ReduceOp>,
) -> Result<(), CollError> {
    let len = data.len();
    let local = sides.local();
    if counts.len() != local.len() || counts.iter().sum::<usize>() != len {
        return Err(CollError::Invalid(format!(
            "inter reduce-scatter counts do not cover the {len}-byte vector in {} blocks",
            local.len()
        )));
    }
    let mine = counts[sides.local_rank()];
    let args = CollArgs { root: 0, data, op: Some(op), ..CollArgs::default() };
    let reduced = embed_over(b, &local, CollectiveKind::Reduce, args, 0, None)?;
    if let Some(input) = reduced.input {
        b.set_input(input);
    }
    let mut image = None;
    if let Some(result) = reduced.output {
        let theirs = b.zeroed(len);
        let peer = sides.remote_rank(0)?;
        b.recv(peer, CROSS, b.whole(theirs), &[])?;
        b.send(peer, CROSS, b.whole(result), &[])?;
        image = Some(theirs);
    }
    let leader = image.is_some();
    let args = CollArgs {
        root: 0,
        data: if leader { vec![0; len] } else { Vec::new() },
        block: mine,
        send_layout: leader.then(|| Layout::contiguous(counts)),
        ..CollArgs::default()
    };
    let e = embed_over(b, &local, CollectiveKind::Scatterv, args, PHASE2, image)?;
    if let Some(out) = e.output {
        b.set_output(out);
    }
    Ok(())
}
