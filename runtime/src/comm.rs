//! Communicators, groups and context ids.
//!
//! A communicator is a group (world ranks in communicator order), this
//! rank's place in it, and a pair of context ids: `ctx` for point-to-point
//! traffic and `ctx + 1` for collective traffic, so the two never match each
//! other. Context ids are agreed collectively (see `api::comm_*`): every
//! rank keeps a mask of free ids, the ranks of the parent communicator AND
//! their masks, and all take the lowest id free everywhere.

use std::sync::Arc;

use crate::error::{err, ErrorClass, MpiResult};

/// Handle of a communicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommId(pub u32);

/// `MPI_COMM_WORLD`.
pub const COMM_WORLD: CommId = CommId(0);
/// `MPI_COMM_SELF`.
pub const COMM_SELF: CommId = CommId(1);

/// Handle of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub u32);

/// A group: world ranks in group order.
pub type Group = Arc<[u32]>;

/// One communicator.
#[derive(Debug, Clone)]
pub struct Comm {
    /// Point-to-point context id (collectives use `ctx + 1`).
    pub ctx: u32,
    /// Context-id slot to give back when freed.
    pub ctx_slot: usize,
    pub group: Group,
    /// This rank's rank in the group.
    pub rank: i32,
    /// Sequence number of the next blocking collective on this communicator.
    pub coll_seq: u32,
    /// Sequence number of the next nonblocking collective or persistent start.
    pub icoll_seq: u32,
    pub name: String,
    /// Shared-memory collective area (see `shmcoll`), set up on first use
    /// and unmapped when the communicator is freed.
    pub(crate) shm: crate::shmcoll::Slot,
}

impl Comm {
    /// The sequence number a new collective carries in its tags, and the
    /// counter advanced. Blocking and nonblocking collectives are numbered
    /// apart (the low bit says which), as MPICH keeps them apart: a rank
    /// that starts an `Iallreduce` before a `Barrier` still meets the ranks
    /// that start it after. MPI orders the calls of each kind the same on
    /// every rank, and each call is of the same kind on every rank.
    pub fn next_seq(&mut self, nonblocking: bool) -> u32 {
        if nonblocking {
            let s = self.icoll_seq;
            self.icoll_seq = s.wrapping_add(1);
            (s << 1) | 1
        } else {
            let s = self.coll_seq;
            self.coll_seq = s.wrapping_add(1);
            s << 1
        }
    }

    pub fn size(&self) -> i32 {
        self.group.len() as i32
    }
}

/// Number of context-id slots (each slot is a pair of context ids).
pub const CTX_SLOTS: usize = 4096;
/// Words in a free-slot mask.
pub const MASK_WORDS: usize = CTX_SLOTS / 64;

/// All communicators and groups of this process.
#[derive(Debug)]
pub struct Tables {
    comms: Vec<Option<Comm>>,
    groups: Vec<Option<Group>>,
    /// Bit set = slot free on this rank.
    pub free_mask: [u64; MASK_WORDS],
}

impl Tables {
    /// Tables holding COMM_WORLD (slot 0) and COMM_SELF (slot 1).
    pub fn new(world_rank: u32, world_size: u32) -> Tables {
        let mut free_mask = [u64::MAX; MASK_WORDS];
        free_mask[0] &= !0b11;
        let world = Comm {
            ctx: 0,
            ctx_slot: 0,
            group: (0..world_size).collect::<Vec<_>>().into(),
            rank: world_rank as i32,
            coll_seq: 0,
            icoll_seq: 0,
            name: "MPI_COMM_WORLD".into(),
            shm: Default::default(),
        };
        let selfc = Comm {
            ctx: 2,
            ctx_slot: 1,
            group: vec![world_rank].into(),
            rank: 0,
            coll_seq: 0,
            icoll_seq: 0,
            name: "MPI_COMM_SELF".into(),
            shm: Default::default(),
        };
        Tables { comms: vec![Some(world), Some(selfc)], groups: Vec::new(), free_mask }
    }

    pub fn comm(&self, id: CommId) -> MpiResult<&Comm> {
        match self.comms.get(id.0 as usize) {
            Some(Some(c)) => Ok(c),
            _ => err(ErrorClass::Comm, format!("invalid communicator handle {}", id.0)),
        }
    }

    pub fn comm_mut(&mut self, id: CommId) -> MpiResult<&mut Comm> {
        match self.comms.get_mut(id.0 as usize) {
            Some(Some(c)) => Ok(c),
            _ => err(ErrorClass::Comm, format!("invalid communicator handle {}", id.0)),
        }
    }

    /// Lowest slot free in `mask` (the AND over all ranks).
    pub fn lowest_free(mask: &[u64; MASK_WORDS]) -> Option<usize> {
        mask.iter().enumerate().find(|(_, w)| **w != 0).map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// Take `slot` and store a new communicator over `group`.
    pub fn insert_comm(&mut self, slot: usize, group: Group, rank: i32, name: String) -> CommId {
        self.free_mask[slot / 64] &= !(1u64 << (slot % 64));
        let comm = Comm {
            ctx: (slot as u32) * 2,
            ctx_slot: slot,
            group,
            rank,
            coll_seq: 0,
            icoll_seq: 0,
            name,
            shm: Default::default(),
        };
        match self.comms.iter().position(|c| c.is_none()) {
            Some(i) => {
                self.comms[i] = Some(comm);
                CommId(i as u32)
            }
            None => {
                self.comms.push(Some(comm));
                CommId(self.comms.len() as u32 - 1)
            }
        }
    }

    /// Free a user communicator and give its context slot back.
    pub fn free_comm(&mut self, id: CommId) -> MpiResult<()> {
        if id == COMM_WORLD || id == COMM_SELF {
            return err(ErrorClass::Comm, "cannot free a predefined communicator");
        }
        let slot = self.comm(id)?.ctx_slot;
        self.comm(id)?.shm.retire();
        self.comms[id.0 as usize] = None;
        self.free_mask[slot / 64] |= 1u64 << (slot % 64);
        Ok(())
    }

    pub fn group(&self, id: GroupId) -> MpiResult<&Group> {
        match self.groups.get(id.0 as usize) {
            Some(Some(g)) => Ok(g),
            _ => err(ErrorClass::Group, format!("invalid group handle {}", id.0)),
        }
    }

    pub fn insert_group(&mut self, g: Group) -> GroupId {
        match self.groups.iter().position(|x| x.is_none()) {
            Some(i) => {
                self.groups[i] = Some(g);
                GroupId(i as u32)
            }
            None => {
                self.groups.push(Some(g));
                GroupId(self.groups.len() as u32 - 1)
            }
        }
    }

    pub fn free_group(&mut self, id: GroupId) -> MpiResult<()> {
        self.group(id)?;
        self.groups[id.0 as usize] = None;
        Ok(())
    }
}

/// Results of comparing two groups (MPI_IDENT, MPI_SIMILAR, MPI_UNEQUAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Ident,
    Congruent,
    Similar,
    Unequal,
}

/// Compare two groups by membership and order.
pub fn compare_groups(a: &[u32], b: &[u32]) -> Compare {
    if a == b {
        return Compare::Ident;
    }
    let mut x = a.to_vec();
    let mut y = b.to_vec();
    x.sort_unstable();
    y.sort_unstable();
    if x == y {
        Compare::Similar
    } else {
        Compare::Unequal
    }
}
