//! Intercommunicator reduce: the sending group reduces to its rank 0 with
//! the intra-communicator reduce (rank order kept for non-commutative
//! operators), which sends the result to the root.

use std::sync::Arc;

use super::{embed_over, Role, Sides, CROSS};
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "inter_reduce:local_reduce";

/// Adds the reduce to `b` (see [`Collective::inter_reduce`](crate::Collective::inter_reduce)).
pub fn build_into(
    b: &mut ScheduleBuilder,
    sides: Sides,
    role: Role,
    data: Vec<u8>,
    op: Arc<dyn ReduceOp>,
) -> Result<(), CollError> {
    match role {
        Role::Idle => Ok(()),
        Role::Root => {
            let out = b.buffer(data);
            b.set_input(out);
            b.recv(sides.remote_rank(0)?, CROSS, b.whole(out), &[])?;
            b.set_output(out);
            Ok(())
        }
        Role::Remote(r) => {
            let root = sides.remote_rank(r)?;
            let args = CollArgs { root: 0, data, op: Some(op), ..CollArgs::default() };
            let e = embed_over(b, &sides.local(), CollectiveKind::Reduce, args, 0, None)?;
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
