//! Communicators and groups.
//!
//! [`Communicator`] is what every communicator can do: rank and size, name
//! its processes for point-to-point calls, barrier, and make new
//! communicators (duplicate, split by color, create from a group).
//! [`SimpleCommunicator`] owns a communicator handle and frees it when
//! dropped (except the predefined world and self communicators). A
//! [`Group`] is an ordered set of processes, freed when dropped.

use rmpi_runtime::api::{self, GroupSetOp};
use rmpi_runtime::{CommId, Compare, GroupId, COMM_SELF, COMM_WORLD};

use crate::point_to_point::{AnyProcess, AsCommunicatorHandle, Process};
use crate::{fatal, Rank};

/// How two communicators or groups relate (`MPI_IDENT`, `MPI_CONGRUENT`,
/// `MPI_SIMILAR`, `MPI_UNEQUAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommunicatorRelation {
    /// The same communicator (or the same group, in the same order).
    Identical,
    /// Same processes in the same order, different context.
    Congruent,
    /// Same processes in another order.
    Similar,
    /// Different processes.
    Unequal,
}

impl From<Compare> for CommunicatorRelation {
    fn from(c: Compare) -> Self {
        match c {
            Compare::Ident => CommunicatorRelation::Identical,
            Compare::Congruent => CommunicatorRelation::Congruent,
            Compare::Similar => CommunicatorRelation::Similar,
            Compare::Unequal => CommunicatorRelation::Unequal,
        }
    }
}

/// The color of a split: processes with the same color end up in the same
/// new communicator; [`Color::undefined`] ones in none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(i32);

impl Color {
    /// Join the new communicator of this color (`value` must be >= 0).
    pub fn with_value(value: i32) -> Color {
        assert!(value >= 0, "a split color must be non-negative, got {value}");
        Color(value)
    }

    /// Take part in the split but join no communicator (`MPI_UNDEFINED`).
    pub fn undefined() -> Color {
        Color(api::UNDEFINED)
    }

    /// The raw MPI value.
    pub fn value(&self) -> i32 {
        self.0
    }
}

/// The order key of a split: ranks in the new communicator follow the key,
/// then the old rank.
pub type Key = i32;

/// What every communicator can do. Collective operations are in
/// [`crate::collective::CommunicatorCollectives`], implemented for every
/// communicator.
pub trait Communicator: AsCommunicatorHandle {
    /// This process's rank (`MPI_Comm_rank`).
    fn rank(&self) -> Rank {
        api::comm_rank(self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Comm_rank", e))
    }

    /// Number of processes (`MPI_Comm_size`).
    fn size(&self) -> Rank {
        api::comm_size(self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Comm_size", e))
    }

    /// The process at rank `r`; panics if `r` is not a rank of this
    /// communicator.
    fn process_at_rank(&self, r: Rank) -> Process<'_> {
        let size = self.size();
        assert!((0..size).contains(&r), "rank {r} is out of range for a communicator of size {size}");
        Process::new(self.comm_handle(), r)
    }

    /// Any process, as a source of receives (`MPI_ANY_SOURCE`).
    fn any_process(&self) -> AnyProcess<'_> {
        AnyProcess::new(self.comm_handle())
    }

    /// The calling process.
    fn this_process(&self) -> Process<'_> {
        Process::new(self.comm_handle(), self.rank())
    }

    /// Block until every process has called it (`MPI_Barrier`).
    fn barrier(&self) {
        api::barrier(self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Barrier", e))
    }

    /// A new communicator with the same processes (`MPI_Comm_dup`;
    /// collective).
    fn duplicate(&self) -> SimpleCommunicator {
        SimpleCommunicator::from_handle(api::comm_dup(self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Comm_dup", e)))
    }

    /// Split by color, ordered by the old rank (`MPI_Comm_split`;
    /// collective). `None` for [`Color::undefined`].
    fn split_by_color(&self, color: Color) -> Option<SimpleCommunicator> {
        self.split_by_color_with_key(color, 0)
    }

    /// Split by color, ordered by `key` then the old rank.
    fn split_by_color_with_key(&self, color: Color, key: Key) -> Option<SimpleCommunicator> {
        api::comm_split(self.comm_handle(), color.value(), key)
            .unwrap_or_else(|e| fatal("MPI_Comm_split", e))
            .map(SimpleCommunicator::from_handle)
    }

    /// A communicator of the processes in `group`, a subset of this
    /// communicator's (`MPI_Comm_create`; collective over this communicator).
    /// `None` on processes outside `group`.
    fn split_by_subgroup_collective(&self, group: &Group) -> Option<SimpleCommunicator> {
        api::comm_create(self.comm_handle(), group.id)
            .unwrap_or_else(|e| fatal("MPI_Comm_create", e))
            .map(SimpleCommunicator::from_handle)
    }

    /// The group of this communicator (`MPI_Comm_group`).
    fn group(&self) -> Group {
        Group { id: api::comm_group(self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Comm_group", e)) }
    }

    /// How this communicator relates to `other` (`MPI_Comm_compare`).
    fn compare(&self, other: &dyn Communicator) -> CommunicatorRelation {
        api::comm_compare(self.comm_handle(), other.comm_handle())
            .unwrap_or_else(|e| fatal("MPI_Comm_compare", e))
            .into()
    }

    /// The communicator's name.
    fn get_name(&self) -> String {
        api::comm_name(self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Comm_get_name", e))
    }

    /// Set the communicator's name.
    fn set_name(&self, name: &str) {
        api::comm_set_name(self.comm_handle(), name).unwrap_or_else(|e| fatal("MPI_Comm_set_name", e))
    }

    /// End the whole job with exit code `code` (`MPI_Abort`).
    fn abort(&self, code: i32) -> ! {
        api::abort(self.comm_handle(), code, "")
    }
}

/// A communicator handle; freed on drop unless predefined.
#[derive(Debug)]
pub struct SimpleCommunicator {
    id: CommId,
}

impl SimpleCommunicator {
    /// Wrap a runtime handle; the communicator is freed on drop unless it
    /// is `COMM_WORLD` or `COMM_SELF`.
    pub fn from_handle(id: CommId) -> SimpleCommunicator {
        SimpleCommunicator { id }
    }

    /// `MPI_COMM_WORLD`.
    pub fn world() -> SimpleCommunicator {
        SimpleCommunicator { id: COMM_WORLD }
    }

    /// `MPI_COMM_SELF`.
    pub fn self_comm() -> SimpleCommunicator {
        SimpleCommunicator { id: COMM_SELF }
    }

    /// Whether this is a predefined communicator (never freed).
    pub fn is_predefined(&self) -> bool {
        self.id == COMM_WORLD || self.id == COMM_SELF
    }
}

impl AsCommunicatorHandle for SimpleCommunicator {
    fn comm_handle(&self) -> CommId {
        self.id
    }
}

impl Communicator for SimpleCommunicator {}

impl Drop for SimpleCommunicator {
    fn drop(&mut self) {
        // After finalize the runtime is gone and with it every handle.
        if !self.is_predefined() && !api::finalized() {
            if let Err(e) = api::comm_free(self.id) {
                eprintln!("rmpi: freeing a communicator: {e}");
            }
        }
    }
}

/// An ordered set of processes; freed on drop.
#[derive(Debug)]
pub struct Group {
    id: GroupId,
}

impl Group {
    /// The runtime handle.
    pub fn handle(&self) -> GroupId {
        self.id
    }

    /// Number of processes.
    pub fn size(&self) -> Rank {
        api::group_size(self.id).unwrap_or_else(|e| fatal("MPI_Group_size", e))
    }

    /// This process's rank in the group, if it is a member.
    pub fn rank(&self) -> Option<Rank> {
        let r = api::group_rank(self.id).unwrap_or_else(|e| fatal("MPI_Group_rank", e));
        (r != api::UNDEFINED).then_some(r)
    }

    /// The processes at `ranks`, in that order (`MPI_Group_incl`).
    pub fn include(&self, ranks: &[Rank]) -> Group {
        Group { id: api::group_incl(self.id, ranks).unwrap_or_else(|e| fatal("MPI_Group_incl", e)) }
    }

    /// All processes but those at `ranks` (`MPI_Group_excl`).
    pub fn exclude(&self, ranks: &[Rank]) -> Group {
        Group { id: api::group_excl(self.id, ranks).unwrap_or_else(|e| fatal("MPI_Group_excl", e)) }
    }

    fn set_op(&self, other: &Group, op: GroupSetOp) -> Group {
        Group { id: api::group_set_op(self.id, other.id, op).unwrap_or_else(|e| fatal("MPI_Group_union", e)) }
    }

    /// This group's processes, then `other`'s not in this one.
    pub fn union(&self, other: &Group) -> Group {
        self.set_op(other, GroupSetOp::Union)
    }

    /// This group's processes that are also in `other`.
    pub fn intersection(&self, other: &Group) -> Group {
        self.set_op(other, GroupSetOp::Intersection)
    }

    /// This group's processes that are not in `other`.
    pub fn difference(&self, other: &Group) -> Group {
        self.set_op(other, GroupSetOp::Difference)
    }

    /// The ranks in `other` of the processes at `ranks` in this group
    /// (`None` where a process is not in `other`).
    pub fn translate_ranks(&self, ranks: &[Rank], other: &Group) -> Vec<Option<Rank>> {
        api::group_translate_ranks(self.id, ranks, other.id)
            .unwrap_or_else(|e| fatal("MPI_Group_translate_ranks", e))
            .into_iter()
            .map(|r| (r != api::UNDEFINED).then_some(r))
            .collect()
    }

    /// How this group relates to `other` (`MPI_Group_compare`).
    pub fn compare(&self, other: &Group) -> CommunicatorRelation {
        api::group_compare(self.id, other.id).unwrap_or_else(|e| fatal("MPI_Group_compare", e)).into()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !api::finalized() {
            if let Err(e) = api::group_free(self.id) {
                eprintln!("rmpi: freeing a group: {e}");
            }
        }
    }
}
