//! Scatterv algorithms (`MPI_Scatterv`): the root sends each rank a block,
//! of per-rank sizes, taken from the places its [`Layout`](crate::Layout) says.

pub mod linear;
