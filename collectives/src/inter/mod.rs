//! Intercommunicator collectives, as schedules over both groups at once.
//!
//! An intercommunicator joins a local and a remote group. Its collectives
//! run here over one numbering of all `low + high` processes: the "low"
//! group's ranks `0..low`, then the "high" group's `low..low + high`
//! (each group's members in their local rank order). The runtime picks
//! which group is low the same way on both sides and gives the schedule
//! that numbering ([`Sides`]); it separates instances with the
//! intercommunicator's context and sequence numbers as for any collective.
//!
//! Each form is built from the intra-communicator algorithms, embedded over
//! one group (or over the root plus one group) with
//! [`ScheduleBuilder::embed`](crate::ScheduleBuilder::embed), plus direct
//! messages between the groups: for example an allreduce is a reduce inside
//! each group to its leader (local rank 0), an exchange between the two
//! leaders, and a broadcast inside each group. The embedded algorithms are
//! chosen by the selection table for the group's size (and honour the
//! `RMPI_COLL_<NAME>` overrides), so all members of a group agree.
//!
//! Tags: first local phase `0..=64`, second local phase
//! [`PHASE2`]`..`, messages between the groups [`CROSS`].

pub mod allgather;
pub mod allgatherv;
pub mod allreduce;
pub mod alltoallv;
pub mod barrier;
pub mod bcast;
pub mod gather;
pub mod gatherv;
pub mod reduce;
pub mod reduce_scatter;
pub mod scatter;
pub mod scatterv;

use std::sync::Arc;

use crate::collective::schedule_for;
use crate::layout::Layout;
use crate::schedule::{BufId, Embedded, ScheduleBuilder};
use crate::select::{CollArgs, CollectiveKind};
use crate::{CollError, Collective, ReduceOp};

/// Tag base of the second phase inside a group (the first uses 0..=64).
pub const PHASE2: u32 = 65;
/// Tag of messages between the two groups.
pub const CROSS: u32 = 200;

/// This process's place in an intercommunicator: its rank in the combined
/// numbering (low group first) and the two group sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    /// Rank in the combined numbering.
    pub rank: usize,
    /// Size of the low group (combined ranks `0..low`).
    pub low: usize,
    /// Size of the high group (combined ranks `low..low + high`).
    pub high: usize,
}

impl Sides {
    /// Checks the numbers: both groups non-empty, `rank` in range.
    pub fn new(rank: usize, low: usize, high: usize) -> Result<Sides, CollError> {
        if low == 0 || high == 0 || rank >= low + high {
            return Err(CollError::Invalid(format!("rank {rank} of an intercommunicator of {low} + {high}")));
        }
        Ok(Sides { rank, low, high })
    }

    /// Total number of processes.
    pub fn size(&self) -> usize {
        self.low + self.high
    }

    /// Whether this process is in the low group.
    pub fn in_low(&self) -> bool {
        self.rank < self.low
    }

    /// Combined ranks of this process's group, in local rank order.
    pub fn local(&self) -> Vec<usize> {
        if self.in_low() {
            (0..self.low).collect()
        } else {
            (self.low..self.size()).collect()
        }
    }

    /// Combined ranks of the other group, in its local rank order.
    pub fn remote(&self) -> Vec<usize> {
        if self.in_low() {
            (self.low..self.size()).collect()
        } else {
            (0..self.low).collect()
        }
    }

    /// This process's rank in its own group.
    pub fn local_rank(&self) -> usize {
        if self.in_low() {
            self.rank
        } else {
            self.rank - self.low
        }
    }

    /// Size of this process's group.
    pub fn local_size(&self) -> usize {
        if self.in_low() {
            self.low
        } else {
            self.high
        }
    }

    /// Size of the other group.
    pub fn remote_size(&self) -> usize {
        self.size() - self.local_size()
    }

    /// Combined rank of the other group's rank `r`.
    pub fn remote_rank(&self, r: usize) -> Result<usize, CollError> {
        if r >= self.remote_size() {
            return Err(CollError::Invalid(format!(
                "root {r} out of range for a remote group of {}",
                self.remote_size()
            )));
        }
        Ok(if self.in_low() { self.low + r } else { r })
    }

    fn builder(&self) -> Result<ScheduleBuilder, CollError> {
        ScheduleBuilder::new(self.rank, self.size())
    }
}

/// A process's part in a rooted intercommunicator collective: MPI's
/// `MPI_ROOT`, `MPI_PROC_NULL` (the root's group but not the root) and a
/// remote root's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This process is the root.
    Root,
    /// In the root's group, not the root: takes no part.
    Idle,
    /// In the other group; the root is that group's rank.
    Remote(usize),
}

/// Embeds `kind` with `args` (their `rank`/`size` set here to this
/// process's place in `group`) over the combined ranks `group`.
fn embed_over(
    b: &mut ScheduleBuilder,
    group: &[usize],
    kind: CollectiveKind,
    mut args: CollArgs,
    tag_base: u32,
    input: Option<BufId>,
) -> Result<Embedded, CollError> {
    let me = b.rank();
    args.rank = group.iter().position(|&r| r == me).ok_or_else(|| CollError::Invalid("not in the group".into()))?;
    args.size = group.len();
    let (sub, _) = schedule_for(kind, args)?;
    b.embed(sub, group, tag_base, input, &[])
}

/// Runs `f` on a fresh builder and wraps the result.
fn collective(
    sides: Sides,
    key: &'static str,
    f: impl FnOnce(&mut ScheduleBuilder) -> Result<(), CollError>,
) -> Result<Collective, CollError> {
    let mut b = sides.builder()?;
    f(&mut b)?;
    Ok(Collective::from_schedule(b.finish(), key))
}

/// Intercommunicator forms. `data` follows the intra-communicator byte
/// contract of each collective unless said otherwise; an idle process
/// (`Role::Idle`) passes empty data and gets an empty output.
impl Collective {
    /// Intercommunicator barrier: returns once every process of both groups entered.
    pub fn inter_barrier(sides: Sides) -> Result<Collective, CollError> {
        collective(sides, barrier::KEY, |b| barrier::build_into(b, sides))
    }

    /// Intercommunicator broadcast from the root to every process of the
    /// other group. The root's `data` is the payload; a receiver's is a
    /// buffer of the expected length, and its output the payload.
    pub fn inter_bcast(sides: Sides, role: Role, data: Vec<u8>) -> Result<Collective, CollError> {
        collective(sides, bcast::KEY, |b| bcast::build_into(b, sides, role, data))
    }

    /// Intercommunicator reduce: the root gets the reduction, in the other
    /// group's rank order, of that group's `data`. The root's `data` is a
    /// zeroed buffer of the result's length.
    pub fn inter_reduce(
        sides: Sides,
        role: Role,
        data: Vec<u8>,
        op: Arc<dyn ReduceOp>,
    ) -> Result<Collective, CollError> {
        collective(sides, reduce::KEY, |b| reduce::build_into(b, sides, role, data, op))
    }

    /// Intercommunicator allreduce: each group gets the reduction of the
    /// other group's `data` (the same length on every process).
    pub fn inter_allreduce(sides: Sides, data: Vec<u8>, op: Arc<dyn ReduceOp>) -> Result<Collective, CollError> {
        collective(sides, allreduce::KEY, |b| allreduce::build_into(b, sides, data, op))
    }

    /// Intercommunicator gather: the root gets every remote process's block
    /// (`block` bytes each, in rank order); senders pass their block.
    pub fn inter_gather(sides: Sides, role: Role, data: Vec<u8>, block: usize) -> Result<Collective, CollError> {
        collective(sides, gather::KEY, |b| gather::build_into(b, sides, role, data, block))
    }

    /// Intercommunicator gatherv: the root's `recv` places each remote
    /// process's block in its output image; senders pass their block.
    pub fn inter_gatherv(
        sides: Sides,
        role: Role,
        data: Vec<u8>,
        recv: Option<Layout>,
    ) -> Result<Collective, CollError> {
        collective(sides, gatherv::KEY, |b| gatherv::build_into(b, sides, role, data, recv))
    }

    /// Intercommunicator scatter: the root's `data` holds one `block`-byte
    /// block per remote process; each receiver's output is its block.
    pub fn inter_scatter(sides: Sides, role: Role, data: Vec<u8>, block: usize) -> Result<Collective, CollError> {
        collective(sides, scatter::KEY, |b| scatter::build_into(b, sides, role, data, block))
    }

    /// Intercommunicator scatterv: the root's `send` places each remote
    /// process's block in `data`; a receiver's output is its `block` bytes.
    pub fn inter_scatterv(
        sides: Sides,
        role: Role,
        data: Vec<u8>,
        send: Option<Layout>,
        block: usize,
    ) -> Result<Collective, CollError> {
        collective(sides, scatterv::KEY, |b| scatterv::build_into(b, sides, role, data, send, block))
    }

    /// Intercommunicator allgather: every process gets the other group's
    /// blocks (`remote_block` bytes each) in rank order.
    pub fn inter_allgather(sides: Sides, data: Vec<u8>, remote_block: usize) -> Result<Collective, CollError> {
        collective(sides, allgather::KEY, |b| allgather::build_into(b, sides, data, remote_block))
    }

    /// Intercommunicator allgatherv: every process gets the other group's
    /// blocks placed by `recv` (one block per remote process).
    pub fn inter_allgatherv(sides: Sides, data: Vec<u8>, recv: Layout) -> Result<Collective, CollError> {
        collective(sides, allgatherv::KEY, |b| allgatherv::build_into(b, sides, data, recv))
    }

    /// Intercommunicator alltoall(v/w) in bytes: `send` places in `data`
    /// the block for each remote process, `recv` places in the output
    /// image the block from each.
    pub fn inter_alltoallv(sides: Sides, data: Vec<u8>, send: Layout, recv: Layout) -> Result<Collective, CollError> {
        collective(sides, alltoallv::KEY, |b| alltoallv::build_into(b, sides, data, send, recv))
    }

    /// Intercommunicator reduce-scatter: the reduction of the other group's
    /// vectors is cut into this group's blocks of `counts` bytes (consecutive;
    /// their total is `data.len()`, the same on both sides); the output is
    /// this process's block.
    pub fn inter_reduce_scatter(
        sides: Sides,
        data: Vec<u8>,
        counts: Vec<usize>,
        op: Arc<dyn ReduceOp>,
    ) -> Result<Collective, CollError> {
        collective(sides, reduce_scatter::KEY, |b| reduce_scatter::build_into(b, sides, data, counts, op))
    }
}
