//! Broadcast algorithms (`MPI_Bcast`): the root's bytes end up on every rank.

pub mod binomial;
pub mod scatter_allgather;
pub mod two_level;
