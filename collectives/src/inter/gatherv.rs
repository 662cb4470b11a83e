//! Intercommunicator gatherv: every sender sends its block straight to the
//! root (only the root knows the counts), which receives each into its own
//! buffer (so the receives run concurrently) and copies it into place.

use super::{Role, Sides, CROSS};
use crate::layout::Layout;
use crate::schedule::{Region, ScheduleBuilder};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_gatherv:linear";

/// Adds the gatherv to `b` (see [`Collective::inter_gatherv`](crate::Collective::inter_gatherv)).
pub fn build_into(
    b: &mut ScheduleBuilder,
    sides: Sides,
    role: Role,
    data: Vec<u8>,
    recv: Option<Layout>,
) -> Result<(), CollError> {
    match role {
        Role::Idle => Ok(()),
        Role::Root => {
            let layout = recv.ok_or_else(|| CollError::Invalid("inter gatherv root without a layout".into()))?;
            let out = receive_blocks(b, &sides.remote(), &layout)?;
            b.set_output(out);
            Ok(())
        }
        Role::Remote(r) => {
            let root = sides.remote_rank(r)?;
            let input = b.buffer(data);
            b.set_input(input);
            b.send(root, CROSS, b.whole(input), &[])?;
            Ok(())
        }
    }
}

/// Receives block `j` of `layout` from `from[j]` (tag [`CROSS`]) into a
/// new image of the layout's extent; returns the image.
pub(crate) fn receive_blocks(
    b: &mut ScheduleBuilder,
    from: &[usize],
    layout: &Layout,
) -> Result<crate::BufId, CollError> {
    if layout.len() != from.len() {
        return Err(CollError::Invalid(format!("layout of {} blocks for {} processes", layout.len(), from.len())));
    }
    layout.check_disjoint()?;
    let out = b.zeroed(layout.extent());
    let mut landed = Vec::with_capacity(from.len());
    for (j, &peer) in from.iter().enumerate() {
        let tmp = b.zeroed(layout.count(j));
        b.recv(peer, CROSS, b.whole(tmp), &[])?;
        landed.push((j, tmp));
    }
    for (j, tmp) in landed {
        b.copy(b.whole(tmp), Region::new(out, layout.block(j)), &[])?;
    }
    Ok(out)
}
