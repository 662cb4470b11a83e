//! Node-aware reduce: each node reduces to its leader (the root on the
//! root's node), then the leaders reduce to the root: each node sends one
//! vector across. Rank order is kept when each node's ranks are
//! consecutive; otherwise only commutative operators are allowed.

use crate::schedule::{Schedule, ScheduleBuilder};
use crate::select::{CollArgs, CollectiveKind as K};
use crate::two_level::{embed, index, Nodes, LEADERS};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "reduce:two_level";

/// The reduce schedule (see [`Collective::reduce`](crate::Collective::reduce)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nodes = Nodes::of(&a, Some(a.root));
    let op = a.op()?.clone();
    let (rank, root, len) = (a.rank, a.root, a.data.len());
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let args = CollArgs {
        root: index(&nodes.local, nodes.my_leader),
        data: a.data,
        op: Some(op.clone()),
        ..CollArgs::default()
    };
    let local = embed(&mut b, &nodes.local, K::Reduce, args, 0, None, &[])?;
    if let Some(input) = local.input {
        b.set_input(input);
    }
    if let (true, Some(partial)) = (nodes.leads(rank), local.output) {
        let args =
            CollArgs { root: index(&nodes.leaders, root), data: vec![0; len], op: Some(op), ..CollArgs::default() };
        let e = embed(&mut b, &nodes.leaders, K::Reduce, args, LEADERS, Some(partial), &[])?;
        if rank == root {
            b.set_output(e.output.unwrap_or(partial));
        }
    }
    Ok(b.finish())
}
