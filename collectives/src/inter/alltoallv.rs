//! Intercommunicator alltoall, alltoallv and alltoallw (in bytes): every
//! process sends each process of the other group its block and receives
//! one from each, all at once (each receive into its own buffer), starting
//! at a rotating partner so the groups' messages spread out.

use super::{Sides, CROSS};
use crate::layout::Layout;
use crate::schedule::{Region, ScheduleBuilder};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_alltoallv:linear";

/// Adds the exchange to `b` (see [`Collective::inter_alltoallv`](crate::Collective::inter_alltoallv)).
pub fn build_into(
    b: &mut ScheduleBuilder,
    sides: Sides,
    data: Vec<u8>,
    send: Layout,
    recv: Layout,
) -> Result<(), CollError> {
    let remote = sides.remote();
    let n = remote.len();
    if send.len() != n || recv.len() != n || send.extent() > data.len() {
        return Err(CollError::Invalid("inter alltoallv layouts do not match the remote group".into()));
    }
    recv.check_disjoint()?;
    let input = b.buffer(data);
    b.set_input(input);
    let out = b.zeroed(recv.extent());
    let start = sides.local_rank() % n;
    let mut landed = Vec::with_capacity(n);
    for k in 0..n {
        let j = (start + k) % n;
        let tmp = b.zeroed(recv.count(j));
        b.recv(remote[j], CROSS, b.whole(tmp), &[])?;
        landed.push((j, tmp));
    }
    for k in 0..n {
        let j = (start + k) % n;
        b.send(remote[j], CROSS, Region::new(input, send.block(j)), &[])?;
    }
    for (j, tmp) in landed {
        b.copy(b.whole(tmp), Region::new(out, recv.block(j)), &[])?;
    }
    b.set_output(out);
    Ok(())
}
