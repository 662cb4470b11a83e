//! Alltoallv algorithms (`MPI_Alltoallv`, and `MPI_Alltoallw` in byte
//! form): each rank sends a block of its own size to every rank; send and
//! receive [`Layout`](crate::Layout)s are per rank and known only locally,
//! so selection never looks at them.

pub mod linear;
pub mod pairwise;
