//! Algorithm registry and selection.
//!
//! Every algorithm is registered under a key `"<collective>:<algorithm>"`
//! (for example `"allreduce:recursive_doubling"`). [`choose`] picks one from
//! a [`Selection`]: values that must be equal on all ranks of the
//! communicator (the runtime guarantees that), never rank-local state, so
//! all ranks pick the same algorithm and their schedules match.
//!
//! The environment variable `RMPI_COLL_<COLLECTIVE>` (for example
//! `RMPI_COLL_ALLREDUCE=reduce_bcast`, or the full key) overrides the
//! default choice. It is read once per process; an unknown name, or one
//! that cannot run the given call, is an error rather than a silent
//! fallback, because ranks that disagree would deadlock.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::schedule::Schedule;
use crate::{allreduce, barrier, bcast, reduce, CollError, ReduceOp};

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
}

impl CollectiveKind {
    /// Every kind.
    pub const ALL: [CollectiveKind; 4] = [
        CollectiveKind::Barrier,
        CollectiveKind::Bcast,
        CollectiveKind::Reduce,
        CollectiveKind::Allreduce,
    ];

    /// Lower-case name, the prefix of registry keys (`"allreduce"`).
    pub fn name(self) -> &'static str {
        match self {
            CollectiveKind::Barrier => "barrier",
            CollectiveKind::Bcast => "bcast",
            CollectiveKind::Reduce => "reduce",
            CollectiveKind::Allreduce => "allreduce",
        }
    }

    /// Name of the environment variable that overrides the choice
    /// (`RMPI_COLL_ALLREDUCE`).
    pub fn env_var(self) -> String {
        format!("RMPI_COLL_{}", self.name().to_ascii_uppercase())
    }
}

/// The inputs of a selection; all must be equal on every rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// Which collective.
    pub kind: CollectiveKind,
    /// Communicator size.
    pub size: usize,
    /// Bytes of the vector (0 for a barrier).
    pub bytes: usize,
    /// Whether the reduction operator is commutative (true when there is none).
    pub commutative: bool,
}

/// Everything a schedule is built from.
#[derive(Clone)]
pub struct CollArgs {
    /// This rank.
    pub rank: usize,
    /// Communicator size.
    pub size: usize,
    /// Root rank (ignored by rootless collectives).
    pub root: usize,
    /// This rank's vector (payload on a broadcast root, expected length elsewhere).
    pub data: Vec<u8>,
    /// Reduction operator, for reductions.
    pub op: Option<Arc<dyn ReduceOp>>,
}

impl CollArgs {
    fn op(&self) -> Result<&Arc<dyn ReduceOp>, CollError> {
        self.op
            .as_ref()
            .ok_or_else(|| CollError::Invalid("a reduction needs an operator".into()))
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
        key: bcast::binomial::KEY,
        kind: CollectiveKind::Bcast,
        supports: always,
        build: |a| bcast::binomial::build(a.rank, a.size, a.root, a.data),
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
        supports: |s| s.commutative,
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
];

/// The registered algorithm with key `key`.
pub fn lookup(key: &str) -> Option<&'static Algorithm> {
    REGISTRY.iter().find(|a| a.key == key)
}

/// The registered algorithms for `kind`.
pub fn algorithms(kind: CollectiveKind) -> impl Iterator<Item = &'static Algorithm> {
    REGISTRY.iter().filter(move |a| a.kind == kind)
}

/// The built-in choice, without overrides.
pub fn default_for(sel: &Selection) -> &'static Algorithm {
    let key = match sel.kind {
        CollectiveKind::Barrier => barrier::dissemination::KEY,
        CollectiveKind::Bcast => bcast::binomial::KEY,
        CollectiveKind::Reduce => reduce::binomial::KEY,
        CollectiveKind::Allreduce if sel.commutative => allreduce::recursive_doubling::KEY,
        CollectiveKind::Allreduce => allreduce::reduce_bcast::KEY,
    };
    lookup(key).expect("default algorithms are registered")
}

/// Picks the algorithm for `sel`: `override_name` if given (a full key or
/// the part after the colon), else the default.
pub fn choose_with(
    sel: &Selection,
    override_name: Option<&str>,
) -> Result<&'static Algorithm, CollError> {
    let Some(name) = override_name else {
        return Ok(default_for(sel));
    };
    let prefix = sel.kind.name();
    let key = if name.contains(':') {
        name.to_string()
    } else {
        format!("{prefix}:{name}")
    };
    let alg = lookup(&key)
        .filter(|a| a.kind == sel.kind)
        .ok_or_else(|| CollError::Invalid(format!("unknown {prefix} algorithm {name:?}")))?;
    if !(alg.supports)(sel) {
        return Err(CollError::Invalid(format!(
            "algorithm {key} cannot run {sel:?}"
        )));
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
                    (!v.is_empty()).then_some((*k, v))
                })
                .collect()
        })
        .get(&kind)
        .map(String::as_str)
}
