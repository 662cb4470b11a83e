//! Intercommunicator scatterv: the root sends each receiver its block
//! directly (only the root knows the counts).

use super::{Role, Sides, CROSS};
use crate::layout::Layout;
use crate::schedule::{Region, ScheduleBuilder};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_scatterv:linear";

/// Adds the scatterv to `b` (see [`Collective::inter_scatterv`](crate::Collective::inter_scatterv)).
pub fn build_into(
    b: &mut ScheduleBuilder,
    sides: Sides,
    role: Role,
    data: Vec<u8>,
    send: Option<Layout>,
    block: usize,
) -> Result<(), CollError> {
    match role {
        Role::Idle => Ok(()),
        Role::Root => {
            let layout = send.ok_or_else(|| CollError::Invalid("inter scatterv root without a layout".into()))?;
            let remote = sides.remote();
            if layout.len() != remote.len() || layout.extent() > data.len() {
                return Err(CollError::Invalid("inter scatterv layout does not fit the send data".into()));
            }
            let input = b.buffer(data);
            b.set_input(input);
            for (j, &peer) in remote.iter().enumerate() {
                b.send(peer, CROSS, Region::new(input, layout.block(j)), &[])?;
            }
            Ok(())
        }
        Role::Remote(r) => {
            let root = sides.remote_rank(r)?;
            let out = b.zeroed(block);
            b.recv(root, CROSS, b.whole(out), &[])?;
            b.set_output(out);
            Ok(())
        }
    }
}
