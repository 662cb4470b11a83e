//! Alltoall algorithms (`MPI_Alltoall`): each rank sends a distinct block
//! to every rank, all blocks the same size.

pub mod bruck;
pub mod linear;
pub mod pairwise;
