//! Node-aware broadcast: the root and one leader per other node broadcast
//! among themselves (the only inter-node traffic: each node receives the
//! payload once), then each leader broadcasts inside its node.

use crate::schedule::{Schedule, ScheduleBuilder};
use crate::select::{CollArgs, CollectiveKind as K};
use crate::two_level::{embed, index, Nodes, LEADERS};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "bcast:two_level";

/// The broadcast schedule (see [`Collective::bcast`](crate::Collective::bcast)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nodes = Nodes::of(&a, Some(a.root));
    let (rank, root, len) = (a.rank, a.root, a.data.len());
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let mut have = input;
    if nodes.leads(rank) {
        let args = CollArgs { root: index(&nodes.leaders, root), data: vec![0; len], ..CollArgs::default() };
        let e = embed(&mut b, &nodes.leaders, K::Bcast, args, LEADERS, Some(input), &[])?;
        have = e.output.unwrap_or(input);
    }
    let args = CollArgs { root: index(&nodes.local, nodes.my_leader), data: vec![0; len], ..CollArgs::default() };
    let e = embed(&mut b, &nodes.local, K::Bcast, args, 0, Some(have), &[])?;
    b.set_output(e.output.unwrap_or(have));
    Ok(b.finish())
}
