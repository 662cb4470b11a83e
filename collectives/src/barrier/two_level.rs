//! Node-aware barrier: a barrier inside each node, one among the node
//! leaders, and one inside each node again (a leader enters the last only
//! after every node has entered the first). Inter-node messages: those of a
//! barrier over one rank per node.

use crate::schedule::{Schedule, ScheduleBuilder};
use crate::select::{CollArgs, CollectiveKind as K};
use crate::two_level::{embed, Nodes, AGAIN, LEADERS};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "barrier:two_level";

/// The barrier schedule for `a.rank` of `a.size` with `a.nodes`.
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nodes = Nodes::of(&a, None);
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let first = embed(&mut b, &nodes.local, K::Barrier, CollArgs::default(), 0, None, &[])?;
    let mut done = first.steps;
    if nodes.leads(a.rank) {
        let mid = embed(&mut b, &nodes.leaders, K::Barrier, CollArgs::default(), LEADERS, None, &done)?;
        done.extend(mid.steps);
    }
    embed(&mut b, &nodes.local, K::Barrier, CollArgs::default(), AGAIN, None, &done)?;
    Ok(b.finish())
}
