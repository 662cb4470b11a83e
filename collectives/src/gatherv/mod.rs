//! Gatherv algorithms (`MPI_Gatherv`): the root gets each rank's block, of
//! per-rank sizes, at the places its [`Layout`](crate::Layout) says.

pub mod linear;
