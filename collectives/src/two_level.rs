//! The shared shape of the node-aware (two-level) algorithms: a phase
//! inside each node (over shared memory), a phase among one leader per
//! node, a phase inside each node again, each an intra-communicator
//! schedule embedded over those ranks. The pieces are chosen by the
//! selection table for their own sizes (never two-level again, and not by
//! the override, which names the two-level algorithm itself).
//!
//! Tags: first node phase 0.., leaders 65.., second node phase 130..

use crate::collective::default_schedule_for;
use crate::locality::groups;
use crate::schedule::{BufId, Embedded, ScheduleBuilder, StepId};
use crate::select::{CollArgs, CollectiveKind};
use crate::CollError;

/// Tag base of the leaders' phase.
pub const LEADERS: u32 = 65;
/// Tag base of the second phase inside each node.
pub const AGAIN: u32 = 130;

/// This rank's node and the leaders.
pub struct Nodes {
    /// Ranks of this rank's node, ascending.
    pub local: Vec<usize>,
    /// One rank per node, nodes in the order of their lowest rank: `root`
    /// on its node, the lowest rank elsewhere.
    pub leaders: Vec<usize>,
    /// This node's leader.
    pub my_leader: usize,
    /// Every node's ranks, nodes in the order of `leaders`.
    pub all: Vec<Vec<usize>>,
}

impl Nodes {
    /// The nodes of `args` (one node when it has no map), leaders chosen
    /// for `root` when given.
    pub fn of(args: &CollArgs, root: Option<usize>) -> Nodes {
        let map: Vec<usize> = match &args.nodes {
            Some(n) if n.len() == args.size => n.to_vec(),
            _ => vec![0; args.size],
        };
        let g = groups(&map);
        let leaders: Vec<usize> =
            g.iter().map(|ranks| root.filter(|r| ranks.contains(r)).unwrap_or(ranks[0])).collect();
        let mine = g.iter().position(|ranks| ranks.contains(&args.rank)).expect("every rank has a node");
        Nodes { local: g[mine].clone(), my_leader: leaders[mine], leaders, all: g }
    }

    /// Whether this rank leads its node.
    pub fn leads(&self, rank: usize) -> bool {
        self.my_leader == rank
    }
}

/// Index of `rank` in `group`.
pub fn index(group: &[usize], rank: usize) -> usize {
    group.iter().position(|&r| r == rank).expect("rank in group")
}

/// Embeds the default `kind` schedule for `args` over `group` (args'
/// rank and size set here), at tag `base`, its input aliased to `input`,
/// after `after`.
pub fn embed(
    b: &mut ScheduleBuilder,
    group: &[usize],
    kind: CollectiveKind,
    mut args: CollArgs,
    base: u32,
    input: Option<BufId>,
    after: &[StepId],
) -> Result<Embedded, CollError> {
    args.rank = index(group, b.rank());
    args.size = group.len();
    let sub = default_schedule_for(kind, args)?;
    b.embed(sub, group, base, input, after)
}
