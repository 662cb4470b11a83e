//! Node-aware allreduce: each node reduces to its leader, the leaders
//! allreduce among themselves (each node sends and receives about one
//! vector across nodes), and each leader broadcasts the result inside its
//! node. Rank order is kept when each node's ranks are consecutive;
//! otherwise only commutative operators are allowed.

use std::sync::Arc;

use crate::schedule::{Schedule, ScheduleBuilder};
use crate::select::{CollArgs, CollectiveKind as K};
use crate::two_level::{embed, index, Nodes, AGAIN, LEADERS};
use crate::{CollError, ReduceOp};

/// Registry key.
pub const KEY: &str = "allreduce:two_level";

/// The allreduce schedule (see [`Collective::allreduce`](crate::Collective::allreduce)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nodes = Nodes::of(&a, None);
    let op: Arc<dyn ReduceOp> = a.op()?.clone();
    let (rank, len) = (a.rank, a.data.len());
    let mut b = ScheduleBuilder::new(a.rank, a.size)?;
    let leader = index(&nodes.local, nodes.my_leader);
    let args = CollArgs { root: leader, data: a.data, op: Some(op.clone()), ..CollArgs::default() };
    let local = embed(&mut b, &nodes.local, K::Reduce, args, 0, None, &[])?;
    if let Some(input) = local.input {
        b.set_input(input);
    }
    let mut result = None;
    if let (true, Some(partial)) = (nodes.leads(rank), local.output) {
        let args = CollArgs { data: vec![0; len], op: Some(op), ..CollArgs::default() };
        let e = embed(&mut b, &nodes.leaders, K::Allreduce, args, LEADERS, Some(partial), &[])?;
        result = Some(e.output.unwrap_or(partial));
    }
    let args = CollArgs { root: leader, data: vec![0; len], ..CollArgs::default() };
    let e = embed(&mut b, &nodes.local, K::Bcast, args, AGAIN, result, &[])?;
    if let Some(out) = e.output {
        b.set_output(out);
    }
    Ok(b.finish())
}
