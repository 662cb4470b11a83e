//! Node-aware allgather: each node gathers its ranks' blocks to its leader,
//! the leaders allgather the node images among themselves (each node's
//! blocks cross between nodes once per other node), each leader puts the
//! blocks in rank order and broadcasts the whole result inside its node.

use crate::layout::Layout;
use crate::schedule::{Region, Schedule, ScheduleBuilder};
use crate::select::{CollArgs, CollectiveKind as K};
use crate::two_level::{embed, Nodes, AGAIN, LEADERS};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "allgather:two_level";

/// The allgather schedule (see [`Collective::allgather`](crate::Collective::allgather)).
pub fn build(a: CollArgs) -> Result<Schedule, CollError> {
    let nodes = Nodes::of(&a, None);
    let (rank, size) = (a.rank, a.size);
    let block = if a.in_place { a.data.len() / size.max(1) } else { a.data.len() };
    let mut b = ScheduleBuilder::new(rank, size)?;
    let input = b.buffer(a.data);
    b.set_input(input);
    let own = if a.in_place { Region::new(input, rank * block..(rank + 1) * block) } else { b.whole(input) };
    let mine = b.zeroed(block);
    b.copy(own, b.whole(mine), &[])?;
    let args = CollArgs { root: 0, data: vec![0; block], ..CollArgs::default() };
    let gathered = embed(&mut b, &nodes.local, K::Gather, args, 0, Some(mine), &[])?;
    let mut whole = None;
    if let (true, Some(image)) = (nodes.leads(rank), gathered.output) {
        let layout = Layout::contiguous(nodes.all.iter().map(|r| r.len() * block).collect());
        let args = CollArgs {
            data: vec![0; nodes.local.len() * block],
            recv_layout: Some(layout.clone()),
            ..CollArgs::default()
        };
        let e = embed(&mut b, &nodes.leaders, K::Allgatherv, args, LEADERS, Some(image), &[])?;
        let by_node = e.output.ok_or_else(|| CollError::Invalid("allgatherv without output".into()))?;
        let out = b.zeroed(size * block);
        for (j, ranks) in nodes.all.iter().enumerate() {
            let start = layout.block(j).start;
            for (k, &r) in ranks.iter().enumerate() {
                let from = Region::new(by_node, start + k * block..start + (k + 1) * block);
                b.copy(from, Region::new(out, r * block..(r + 1) * block), &[])?;
            }
        }
        whole = Some(out);
    }
    let args = CollArgs { root: 0, data: vec![0; size * block], ..CollArgs::default() };
    let e = embed(&mut b, &nodes.local, K::Bcast, args, AGAIN, whole, &[])?;
    if let Some(out) = e.output {
        b.set_output(out);
    }
    Ok(b.finish())
}
