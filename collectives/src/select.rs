//! Algorithm registry and selection.
//!
//! Every algorithm is registered under a key `"<collective>:<algorithm>"`
//! (for example `"allreduce:recursive_doubling"`). [`choose`] picks one from
//! a [`Selection`]: values that must be equal on all ranks of the
//! communicator (the runtime guarantees that), never rank-local state, so
//! all ranks pick the same algorithm and their schedules match.
//!
//! # Why all ranks agree
//!
//! [`default_for`] is a pure function of a [`Selection`]: the collective,
//! the communicator size, one byte size and the operator's commutativity.
//! The byte size is one MPI requires to match on every rank (the broadcast
//! payload, the reduction vector, the per-rank block of a gather, scatter,
//! allgather or alltoall, whose type signatures must match), or the total
//! of a counts array every rank holds (allgatherv's receive counts,
//! reduce_scatter's counts). `gatherv`, `scatterv`, `alltoallv` and the
//! neighbourhood collectives have counts that are not known everywhere, so
//! their selection ignores sizes (`bytes` is 0). Commutativity is a
//! property of the operator, which MPI requires to be the same on all
//! ranks. The override below is read from the environment, which the
//! launcher gives every rank alike.
//!
//! # Non-commutative operators
//!
//! Algorithms that combine partial results out of rank order (ring,
//! Rabenseifner, recursive halving) declare `supports` false for
//! non-commutative operators, and the table picks only order-preserving
//! ones for them (binomial reduce, reduce + broadcast, recursive-doubling
//! allreduce, reduce + scatterv, recursive-doubling scan and exscan).
//!
//! # Overrides
//!
//! The environment variable `RMPI_COLL_<COLLECTIVE>` (for example
//! `RMPI_COLL_ALLREDUCE=reduce_bcast`, `RMPI_COLL_REDUCE_SCATTER_BLOCK=reduce_scatter`,
//! or the full key) overrides the default choice. It is read once per process; an unknown name, or one
//! that cannot run the given call, is an error rather than a silent
//! fallback, because ranks that disagree would deadlock.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::layout::{Layout, Neighbors};
use crate::schedule::Schedule;
use crate::{
    allgather, allgatherv, allreduce, alltoall, alltoallv, barrier, bcast, exscan, gather, gatherv, neighbor_allgather,
    neighbor_allgatherv, neighbor_alltoall, neighbor_alltoallv, reduce, reduce_scatter, reduce_scatter_block, scan,
    scatter, scatterv, CollError, ReduceOp,
};

/// The collective operations this crate builds schedules for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CollectiveKind {
    /// `MPI_Barrier`.
    Barrier,
    /// `MPI_Bcast`.
    Bcast,
    /// `MPI_Reduce`.
    Reduce,
    /// `MPI_Allreduce`.
    Allreduce,
    /// `MPI_Gather`.
    Gather,
    /// `MPI_Gatherv`.
    Gatherv,
    /// `MPI_Scatter`.
    Scatter,
    /// `MPI_Scatterv`.
    Scatterv,
    /// `MPI_Allgather`.
    Allgather,
    /// `MPI_Allgatherv`.
    Allgatherv,
    /// `MPI_Alltoall`.
    Alltoall,
    /// `MPI_Alltoallv`, and `MPI_Alltoallw` in byte form.
    Alltoallv,
    /// `MPI_Reduce_scatter`.
    ReduceScatter,
    /// `MPI_Reduce_scatter_block`.
    ReduceScatterBlock,
    /// `MPI_Scan`.
    Scan,
    /// `MPI_Exscan`.
    Exscan,
    /// `MPI_Neighbor_allgather`.
    NeighborAllgather,
    /// `MPI_Neighbor_allgatherv`.
    NeighborAllgatherv,
    /// `MPI_Neighbor_alltoall`.
    NeighborAlltoall,
    /// `MPI_Neighbor_alltoallv`, and `MPI_Neighbor_alltoallw` in byte form.
    NeighborAlltoallv,
}

impl CollectiveKind {
    /// Every kind.
    pub const ALL: [CollectiveKind; 20] = [
        CollectiveKind::Barrier,
        CollectiveKind::Bcast,
        CollectiveKind::Reduce,
        CollectiveKind::Allreduce,
        CollectiveKind::Gather,
        CollectiveKind::Gatherv,
        CollectiveKind::Scatter,
        CollectiveKind::Scatterv,
        CollectiveKind::Allgather,
        CollectiveKind::Allgatherv,
        CollectiveKind::Alltoall,
        CollectiveKind::Alltoallv,
        CollectiveKind::ReduceScatter,
        CollectiveKind::ReduceScatterBlock,
        CollectiveKind::Scan,
        CollectiveKind::Exscan,
        CollectiveKind::NeighborAllgather,
        CollectiveKind::NeighborAllgatherv,
        CollectiveKind::NeighborAlltoall,
        CollectiveKind::NeighborAlltoallv,
    ];

    /// Lower-case name, the prefix of registry keys (`"allreduce"`).
    pub fn name(self) -> &'static str {
        match self {
            CollectiveKind::Barrier => "barrier",
            CollectiveKind::Bcast => "bcast",
            CollectiveKind::Reduce => "reduce",
            CollectiveKind::Allreduce => "allreduce",
            CollectiveKind::Gather => "gather",
            CollectiveKind::Gatherv => "gatherv",
            CollectiveKind::Scatter => "scatter",
            CollectiveKind::Scatterv => "scatterv",
            CollectiveKind::Allgather => "allgather",
            CollectiveKind::Allgatherv => "allgatherv",
            CollectiveKind::Alltoall => "alltoall",
            CollectiveKind::Alltoallv => "alltoallv",
            CollectiveKind::ReduceScatter => "reduce_scatter",
            CollectiveKind::ReduceScatterBlock => "reduce_scatter_block",
            CollectiveKind::Scan => "scan",
            CollectiveKind::Exscan => "exscan",
            CollectiveKind::NeighborAllgather => "neighbor_allgather",
            CollectiveKind::NeighborAllgatherv => "neighbor_allgatherv",
            CollectiveKind::NeighborAlltoall => "neighbor_alltoall",
            CollectiveKind::NeighborAlltoallv => "neighbor_alltoallv",
        }
    }

    /// Name of the environment variable that overrides the choice
    /// (`RMPI_COLL_ALLREDUCE`, `RMPI_COLL_REDUCE_SCATTER_BLOCK`).
    pub fn env_var(self) -> String {
        format!("RMPI_COLL_{}", self.name().to_ascii_uppercase())
    }

    /// Whether the collective has a root.
    pub fn rooted(self) -> bool {
        matches!(
            self,
            CollectiveKind::Bcast
                | CollectiveKind::Reduce
                | CollectiveKind::Gather
                | CollectiveKind::Gatherv
                | CollectiveKind::Scatter
                | CollectiveKind::Scatterv
        )
    }

    /// Whether the collective needs a reduction operator.
    pub fn reduces(self) -> bool {
        matches!(
            self,
            CollectiveKind::Reduce
                | CollectiveKind::Allreduce
                | CollectiveKind::ReduceScatter
                | CollectiveKind::ReduceScatterBlock
                | CollectiveKind::Scan
                | CollectiveKind::Exscan
        )
    }
}

/// The inputs of a selection; all must be equal on every rank.
///
/// What `bytes` means depends on the collective (each is a value MPI
/// requires to match on all ranks, so every rank computes the same one):
///
/// | collective | `bytes` |
/// |---|---|
/// | barrier, gatherv, scatterv, alltoallv, neighbour collectives | 0 (not used: counts are not known everywhere) |
/// | bcast, reduce, allreduce, scan, exscan | the vector (payload) |
/// | gather, scatter, allgather, alltoall, reduce_scatter_block | one rank's block |
/// | allgatherv, reduce_scatter | the total of the counts (every rank has them) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// Which collective.
    pub kind: CollectiveKind,
    /// Communicator size.
    pub size: usize,
    /// Bytes, per the table above.
    pub bytes: usize,
    /// Whether the reduction operator is commutative (true when there is none).
    pub commutative: bool,
    /// Number of nodes the communicator spans (1 when unknown).
    pub nodes: usize,
    /// Whether each node's ranks are consecutive.
    pub nodes_contiguous: bool,
}

impl Selection {
    /// A selection on one node.
    pub fn new(kind: CollectiveKind, size: usize, bytes: usize, commutative: bool) -> Selection {
        Selection { kind, size, bytes, commutative, nodes: 1, nodes_contiguous: true }
    }

    /// Several nodes, some holding several ranks: where two-level forms pay.
    pub fn multi_node(&self) -> bool {
        self.nodes > 1 && self.nodes < self.size
    }
}

/// Everything a schedule is built from. Which fields a collective reads is
/// documented on its [`Collective`](crate::Collective) constructor; the
/// others keep their defaults.
#[derive(Clone, Default)]
pub struct CollArgs {
    /// This rank.
    pub rank: usize,
    /// Communicator size.
    pub size: usize,
    /// Root rank (ignored by rootless collectives).
    pub root: usize,
    /// This rank's bytes (see the constructor of each collective).
    pub data: Vec<u8>,
    /// Reduction operator, for reductions.
    pub op: Option<Arc<dyn ReduceOp>>,
    /// The in-place form (`MPI_IN_PLACE`), where it changes the bytes passed.
    pub in_place: bool,
    /// Block bytes where `data` does not tell: scatter's and scatterv's
    /// receive size, neighbor_alltoall's block.
    pub block: usize,
    /// Send-side layout: scatterv (root), alltoallv, neighbor_alltoallv.
    pub send_layout: Option<Layout>,
    /// Receive-side layout: gatherv (root), allgatherv, alltoallv,
    /// reduce_scatter (its counts), neighbor_allgatherv, neighbor_alltoallv.
    pub recv_layout: Option<Layout>,
    /// The topology of a neighbourhood collective.
    pub neighbors: Option<Neighbors>,
    /// The node of each rank (node-aware algorithms); `None`: one node.
    pub nodes: Option<Arc<[usize]>>,
}

impl CollArgs {
    pub(crate) fn op(&self) -> Result<&Arc<dyn ReduceOp>, CollError> {
        self.op.as_ref().ok_or_else(|| CollError::Invalid("a reduction needs an operator".into()))
    }

    pub(crate) fn recv_layout(&self) -> Result<&Layout, CollError> {
        self.recv_layout.as_ref().ok_or_else(|| CollError::Invalid("a receive layout is required".into()))
    }

    pub(crate) fn send_layout(&self) -> Result<&Layout, CollError> {
        self.send_layout.as_ref().ok_or_else(|| CollError::Invalid("a send layout is required".into()))
    }

    pub(crate) fn neighbors(&self) -> Result<&Neighbors, CollError> {
        self.neighbors.as_ref().ok_or_else(|| CollError::Invalid("a neighbourhood is required".into()))
    }

    /// Send and receive layouts of an alltoallv; in place, the receive
    /// layout serves both.
    pub(crate) fn alltoallv_layouts(&self) -> Result<(Layout, Layout), CollError> {
        let recv = self.recv_layout()?.clone();
        let send = if self.in_place { recv.clone() } else { self.send_layout()?.clone() };
        Ok((send, recv))
    }

    /// An alltoall's arguments as an alltoallv's.
    pub(crate) fn uniform_alltoall(mut self) -> CollArgs {
        let block = self.data.len() / self.size.max(1);
        self.send_layout = Some(Layout::uniform(self.size, block));
        self.recv_layout = Some(Layout::uniform(self.size, block));
        self.in_place = false;
        self
    }
}

impl std::fmt::Debug for CollArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollArgs")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("root", &self.root)
            .field("bytes", &self.data.len())
            .field("in_place", &self.in_place)
            .field("block", &self.block)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// One registered algorithm.
pub struct Algorithm {
    /// Registry key, `"<collective>:<algorithm>"`.
    pub key: &'static str,
    /// Which collective it implements.
    pub kind: CollectiveKind,
    /// Whether it can run a call with these inputs.
    pub supports: fn(&Selection) -> bool,
    /// Builds this rank's schedule.
    pub build: fn(CollArgs) -> Result<Schedule, CollError>,
}

impl std::fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Algorithm").field("key", &self.key).finish()
    }
}

fn always(_: &Selection) -> bool {
    true
}

fn commutative(s: &Selection) -> bool {
    s.commutative
}

/// Combining node by node keeps rank order when each node's ranks are
/// consecutive; otherwise the operator must commute.
fn order_kept_by_nodes(s: &Selection) -> bool {
    s.commutative || s.nodes_contiguous
}

macro_rules! alg {
    ($module:path, $kind:ident) => {
        alg!($module, $kind, always)
    };
    ($module:path, $kind:ident, $supports:expr) => {{
        use $module as m;
        Algorithm { key: m::KEY, kind: CollectiveKind::$kind, supports: $supports, build: m::build }
    }};
}

/// Every algorithm of the crate. The first entry of a kind whose `supports`
/// accepts the call is not necessarily the default: see [`default_for`].
pub static REGISTRY: &[Algorithm] = &[
    Algorithm {
        key: barrier::dissemination::KEY,
        kind: CollectiveKind::Barrier,
        supports: always,
        build: |a| barrier::dissemination::build(a.rank, a.size),
    },
    Algorithm {
        key: barrier::recursive_doubling::KEY,
        kind: CollectiveKind::Barrier,
        supports: always,
        build: |a| barrier::recursive_doubling::build(a.rank, a.size),
    },
    Algorithm {
        key: barrier::two_level::KEY,
        kind: CollectiveKind::Barrier,
        supports: always,
        build: barrier::two_level::build,
    },
    Algorithm {
        key: bcast::binomial::KEY,
        kind: CollectiveKind::Bcast,
        supports: always,
        build: |a| bcast::binomial::build(a.rank, a.size, a.root, a.data),
    },
    Algorithm {
        key: bcast::scatter_allgather::KEY,
        kind: CollectiveKind::Bcast,
        supports: always,
        build: |a| bcast::scatter_allgather::build(a.rank, a.size, a.root, a.data),
    },
    Algorithm {
        key: bcast::two_level::KEY,
        kind: CollectiveKind::Bcast,
        supports: always,
        build: bcast::two_level::build,
    },
    Algorithm {
        key: reduce::binomial::KEY,
        kind: CollectiveKind::Reduce,
        supports: always,
        build: |a| {
            let op = Arc::clone(a.op()?);
            reduce::binomial::build(a.rank, a.size, a.root, a.data, &op)
        },
    },
    Algorithm {
        key: reduce::rabenseifner::KEY,
        kind: CollectiveKind::Reduce,
        supports: commutative,
        build: |a| {
            let op = Arc::clone(a.op()?);
            reduce::rabenseifner::build(a.rank, a.size, a.root, a.data, &op)
        },
    },
    Algorithm {
        key: reduce::two_level::KEY,
        kind: CollectiveKind::Reduce,
        supports: order_kept_by_nodes,
        build: reduce::two_level::build,
    },
    Algorithm {
        key: allreduce::recursive_doubling::KEY,
        kind: CollectiveKind::Allreduce,
        supports: always,
        build: |a| {
            let op = Arc::clone(a.op()?);
            allreduce::recursive_doubling::build(a.rank, a.size, a.data, &op)
        },
    },
    Algorithm {
        key: allreduce::ring::KEY,
        kind: CollectiveKind::Allreduce,
        supports: commutative,
        build: |a| {
            let op = Arc::clone(a.op()?);
            allreduce::ring::build(a.rank, a.size, a.data, &op)
        },
    },
    Algorithm {
        key: allreduce::reduce_bcast::KEY,
        kind: CollectiveKind::Allreduce,
        supports: always,
        build: |a| {
            let op = Arc::clone(a.op()?);
            allreduce::reduce_bcast::build(a.rank, a.size, a.data, &op)
        },
    },
    Algorithm {
        key: allreduce::rabenseifner::KEY,
        kind: CollectiveKind::Allreduce,
        supports: commutative,
        build: |a| {
            let op = Arc::clone(a.op()?);
            allreduce::rabenseifner::build(a.rank, a.size, a.data, &op)
        },
    },
    Algorithm {
        key: allreduce::two_level::KEY,
        kind: CollectiveKind::Allreduce,
        supports: order_kept_by_nodes,
        build: allreduce::two_level::build,
    },
    alg!(gather::binomial, Gather),
    alg!(gather::linear, Gather),
    alg!(gatherv::linear, Gatherv),
    alg!(scatter::binomial, Scatter),
    alg!(scatter::linear, Scatter),
    alg!(scatterv::linear, Scatterv),
    alg!(allgather::recursive_doubling, Allgather),
    alg!(allgather::bruck, Allgather),
    alg!(allgather::ring, Allgather),
    alg!(allgather::two_level, Allgather),
    alg!(allgatherv::ring, Allgatherv),
    alg!(allgatherv::gather_bcast, Allgatherv),
    alg!(alltoall::bruck, Alltoall),
    alg!(alltoall::linear, Alltoall),
    alg!(alltoall::pairwise, Alltoall),
    alg!(alltoallv::linear, Alltoallv),
    alg!(alltoallv::pairwise, Alltoallv),
    alg!(reduce_scatter::recursive_halving, ReduceScatter, commutative),
    alg!(reduce_scatter::reduce_scatterv, ReduceScatter),
    alg!(reduce_scatter_block::recursive_halving, ReduceScatterBlock, commutative),
    alg!(reduce_scatter_block::reduce_scatter, ReduceScatterBlock),
    alg!(scan::recursive_doubling, Scan),
    alg!(exscan::recursive_doubling, Exscan),
    alg!(neighbor_allgather::linear, NeighborAllgather),
    alg!(neighbor_allgatherv::linear, NeighborAllgatherv),
    alg!(neighbor_alltoall::linear, NeighborAlltoall),
    alg!(neighbor_alltoallv::linear, NeighborAlltoallv),
];

/// The registered algorithm with key `key`.
pub fn lookup(key: &str) -> Option<&'static Algorithm> {
    REGISTRY.iter().find(|a| a.key == key)
}

/// The registered algorithms for `kind`.
pub fn algorithms(kind: CollectiveKind) -> impl Iterator<Item = &'static Algorithm> {
    REGISTRY.iter().filter(move |a| a.kind == kind)
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The built-in choice, without overrides: the selection table. Every
/// input is in [`Selection`] and equal on all ranks, so all ranks choose
/// alike. `p` is the communicator size, `n` the bytes of the table on
/// [`Selection`].
///
/// | collective | choice |
/// |---|---|
/// | barrier, bcast, reduce, allreduce on several nodes (some with several ranks; reductions: commutative, or each node's ranks consecutive) | two_level |
/// | allgather on several nodes (some with several ranks) | two_level |
/// | barrier | dissemination |
/// | bcast | binomial if `n < 12 KiB` or `p <= 3`; else scatter_allgather |
/// | reduce | rabenseifner if commutative, `n >= 16 KiB` and `p >= 4`; else binomial (order-preserving) |
/// | allreduce | non-commutative: reduce_bcast; `n <= 16 KiB` or `p <= 2`: recursive_doubling; `p` a power of two or `n < 1 MiB`: rabenseifner; else ring |
/// | gather, scatter | binomial if `n < 64 KiB`; else linear |
/// | gatherv, scatterv, alltoallv, neighbour collectives | linear (the only one that needs no agreed sizes) |
/// | allgather | `n p < 80 KiB`: recursive_doubling if `p` is a power of two, else bruck; `n p < 512 KiB` and `p` a power of two: recursive_doubling; else ring |
/// | allgatherv | gather_bcast if the total is `<= 16 KiB` and `p >= 8`; else ring |
/// | alltoall | bruck if `n <= 256` and `p >= 8`; linear if `n <= 32 KiB`; else pairwise |
/// | reduce_scatter(_block) | recursive_halving if commutative; else reduce_scatterv / reduce_scatter (order-preserving) |
/// | scan, exscan | recursive_doubling (order-preserving) |
pub fn default_for(sel: &Selection) -> &'static Algorithm {
    let (p, n, pof2) = (sel.size, sel.bytes, sel.size.is_power_of_two());
    let two_level = sel.multi_node() && (sel.commutative || sel.nodes_contiguous);
    let key = match sel.kind {
        CollectiveKind::Barrier | CollectiveKind::Bcast | CollectiveKind::Reduce | CollectiveKind::Allreduce
            if two_level =>
        {
            match sel.kind {
                CollectiveKind::Barrier => barrier::two_level::KEY,
                CollectiveKind::Bcast => bcast::two_level::KEY,
                CollectiveKind::Reduce => reduce::two_level::KEY,
                _ => allreduce::two_level::KEY,
            }
        }
        CollectiveKind::Barrier => barrier::dissemination::KEY,
        CollectiveKind::Bcast if n < 12 * KIB || p <= 3 => bcast::binomial::KEY,
        CollectiveKind::Bcast => bcast::scatter_allgather::KEY,
        CollectiveKind::Reduce if sel.commutative && n >= 16 * KIB && p >= 4 => reduce::rabenseifner::KEY,
        CollectiveKind::Reduce => reduce::binomial::KEY,
        CollectiveKind::Allreduce if !sel.commutative => allreduce::reduce_bcast::KEY,
        CollectiveKind::Allreduce if n <= 16 * KIB || p <= 2 => allreduce::recursive_doubling::KEY,
        CollectiveKind::Allreduce if pof2 || n < MIB => allreduce::rabenseifner::KEY,
        CollectiveKind::Allreduce => allreduce::ring::KEY,
        CollectiveKind::Gather if n < 64 * KIB => gather::binomial::KEY,
        CollectiveKind::Gather => gather::linear::KEY,
        CollectiveKind::Gatherv => gatherv::linear::KEY,
        CollectiveKind::Scatter if n < 64 * KIB => scatter::binomial::KEY,
        CollectiveKind::Scatter => scatter::linear::KEY,
        CollectiveKind::Scatterv => scatterv::linear::KEY,
        CollectiveKind::Allgather if sel.multi_node() => allgather::two_level::KEY,
        CollectiveKind::Allgather if n.saturating_mul(p) < 80 * KIB && !pof2 => allgather::bruck::KEY,
        CollectiveKind::Allgather if n.saturating_mul(p) < 512 * KIB && pof2 => allgather::recursive_doubling::KEY,
        CollectiveKind::Allgather => allgather::ring::KEY,
        CollectiveKind::Allgatherv if n <= 16 * KIB && p >= 8 => allgatherv::gather_bcast::KEY,
        CollectiveKind::Allgatherv => allgatherv::ring::KEY,
        CollectiveKind::Alltoall if n <= 256 && p >= 8 => alltoall::bruck::KEY,
        CollectiveKind::Alltoall if n <= 32 * KIB => alltoall::linear::KEY,
        CollectiveKind::Alltoall => alltoall::pairwise::KEY,
        CollectiveKind::Alltoallv => alltoallv::linear::KEY,
        CollectiveKind::ReduceScatter if sel.commutative => reduce_scatter::recursive_halving::KEY,
        CollectiveKind::ReduceScatter => reduce_scatter::reduce_scatterv::KEY,
        CollectiveKind::ReduceScatterBlock if sel.commutative => reduce_scatter_block::recursive_halving::KEY,
        CollectiveKind::ReduceScatterBlock => reduce_scatter_block::reduce_scatter::KEY,
        CollectiveKind::Scan => scan::recursive_doubling::KEY,
        CollectiveKind::Exscan => exscan::recursive_doubling::KEY,
        CollectiveKind::NeighborAllgather => neighbor_allgather::linear::KEY,
        CollectiveKind::NeighborAllgatherv => neighbor_allgatherv::linear::KEY,
        CollectiveKind::NeighborAlltoall => neighbor_alltoall::linear::KEY,
        CollectiveKind::NeighborAlltoallv => neighbor_alltoallv::linear::KEY,
    };
    lookup(key).expect("default algorithms are registered")
}

/// Picks the algorithm for `sel`: `override_name` if given (a full key or
/// the part after the colon), else the default.
pub fn choose_with(sel: &Selection, override_name: Option<&str>) -> Result<&'static Algorithm, CollError> {
    let Some(name) = override_name else {
        return Ok(default_for(sel));
    };
    let prefix = sel.kind.name();
    let key = if name.contains(':') { name.to_string() } else { format!("{prefix}:{name}") };
    let alg = lookup(&key)
        .filter(|a| a.kind == sel.kind)
        .ok_or_else(|| CollError::Invalid(format!("unknown {prefix} algorithm {name:?}")))?;
    if !(alg.supports)(sel) {
        return Err(CollError::Invalid(format!("algorithm {key} cannot run {sel:?}")));
    }
    Ok(alg)
}

/// Picks the algorithm for `sel`, honouring `RMPI_COLL_<COLLECTIVE>`.
pub fn choose(sel: &Selection) -> Result<&'static Algorithm, CollError> {
    choose_with(sel, env_override(sel.kind))
}

/// The override from the environment for `kind`, read once per process.
pub fn env_override(kind: CollectiveKind) -> Option<&'static str> {
    static OVERRIDES: OnceLock<HashMap<CollectiveKind, String>> = OnceLock::new();
    OVERRIDES
        .get_or_init(|| {
            CollectiveKind::ALL
                .iter()
                .filter_map(|k| {
                    let v = std::env::var(k.env_var()).ok()?;
                    let v = v.trim().to_string();
                    // `shm` names the runtime's shared-memory path of the
                    // blocking form, not a schedule: schedules keep the default.
                    let runtime_only = v == "shm" || v == format!("{}:shm", k.name());
                    (!v.is_empty() && !runtime_only).then_some((*k, v))
                })
                .collect()
        })
        .get(&kind)
        .map(String::as_str)
}

/// Environment assignments that, over `0..sweep_len()`, force every
/// registered algorithm at least once: assignment `k` sets each
/// `RMPI_COLL_<COLLECTIVE>` to the `k`-th algorithm of that collective
/// (cycling). Process-level tests run one job per assignment. With
/// `order_preserving`, reductions cycle only through the algorithms that
/// keep rank order (for programs that use non-commutative operators).
pub fn sweep(k: usize, order_preserving: bool) -> Vec<(String, &'static str)> {
    CollectiveKind::ALL
        .iter()
        .map(|&kind| {
            let probe = Selection::new(kind, 2, 0, false);
            let algs: Vec<&Algorithm> =
                algorithms(kind).filter(|a| !order_preserving || !kind.reduces() || (a.supports)(&probe)).collect();
            (kind.env_var(), algs[k % algs.len()].key)
        })
        .collect()
}

/// Number of [`sweep`] assignments needed to force every algorithm.
pub fn sweep_len() -> usize {
    CollectiveKind::ALL.iter().map(|&k| algorithms(k).count()).max().unwrap_or(1)
}
