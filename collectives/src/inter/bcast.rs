//! Intercommunicator broadcast: the intra-communicator broadcast over the
//! root followed by the receiving group (the root is its rank 0), so the
//! selected algorithm (binomial, or scatter + allgather for large payloads)
//! spreads the data; the root's other group members take no part.

use super::{embed_over, Role, Sides};
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_bcast:root_then_group";

/// Adds the broadcast to `b` (see [`Collective::inter_bcast`](crate::Collective::inter_bcast)).
pub fn build_into(b: &mut ScheduleBuilder, sides: Sides, role: Role, data: Vec<u8>) -> Result<(), CollError> {
    let (root, receivers) = match role {
        Role::Idle => return Ok(()),
        Role::Root => (sides.rank, sides.remote()),
        Role::Remote(r) => (sides.remote_rank(r)?, sides.local()),
    };
    let mut group = vec![root];
    group.extend(receivers);
    let args = CollArgs { root: 0, data, ..CollArgs::default() };
    let e = embed_over(b, &group, CollectiveKind::Bcast, args, 0, None)?;
    if let Some(input) = e.input {
        b.set_input(input);
    }
    if role != Role::Root {
        if let Some(out) = e.output {
            b.set_output(out);
        }
    }
    Ok(())
}
