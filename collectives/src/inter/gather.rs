//! Intercommunicator gather: the sending group gathers to its rank 0 with
//! the intra-communicator gather, which sends the whole image to the root.

use super::{embed_over, Role, Sides, CROSS};
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_gather:local_gather";

/// Adds the gather to `b` (see [`Collective::inter_gather`](crate::Collective::inter_gather)).
pub fn build_into(
    b: &mut ScheduleBuilder,
    sides: Sides,
    role: Role,
    data: Vec<u8>,
    block: usize,
) -> Result<(), CollError> {
    match role {
        Role::Idle => Ok(()),
        Role::Root => {
            let out = b.zeroed(block * sides.remote_size());
            b.recv(sides.remote_rank(0)?, CROSS, b.whole(out), &[])?;
            b.set_output(out);
            Ok(())
        }
        Role::Remote(r) => {
            let root = sides.remote_rank(r)?;
            let args = CollArgs { root: 0, data, ..CollArgs::default() };
            let e = embed_over(b, &sides.local(), CollectiveKind::Gather, args, 0, None)?;
            if let Some(input) = e.input {
                b.set_input(input);
            }
            if let Some(out) = e.output {
                b.send(root, CROSS, b.whole(out), &[])?;
            }
            Ok(())
        }
    }
}
