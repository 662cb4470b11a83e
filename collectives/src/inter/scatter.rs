//! Intercommunicator scatter: the root sends the whole image to the
//! receiving group's rank 0, which scatters it with the
//! intra-communicator scatter.

use super::{embed_over, Role, Sides, CROSS};
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_scatter:leader_scatter";

/// Adds the scatter to `b` (see [`Collective::inter_scatter`](crate::Collective::inter_scatter)).
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
            if data.len() != block * sides.remote_size() {
                return Err(CollError::Invalid(format!(
                    "inter scatter root has {} bytes for {} blocks of {block}",
                    data.len(),
                    sides.remote_size()
                )));
            }
            let input = b.buffer(data);
            b.set_input(input);
            b.send(sides.remote_rank(0)?, CROSS, b.whole(input), &[])?;
            Ok(())
        }
        Role::Remote(r) => {
            let root = sides.remote_rank(r)?;
            let leader = sides.local_rank() == 0;
            let n = sides.local_size();
            let mut image = None;
            if leader {
                let tmp = b.zeroed(block * n);
                b.recv(root, CROSS, b.whole(tmp), &[])?;
                image = Some(tmp);
            }
            let data = if leader { vec![0; block * n] } else { Vec::new() };
            let args = CollArgs { root: 0, data, block, ..CollArgs::default() };
            let e = embed_over(b, &sides.local(), CollectiveKind::Scatter, args, 0, image)?;
            if let Some(out) = e.output {
                b.set_output(out);
            }
            Ok(())
        }
    }
}
