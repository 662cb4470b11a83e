//! Allgather algorithms (`MPI_Allgather`): every rank gets every rank's
//! block, all blocks the same size, in rank order.

pub mod bruck;
pub mod recursive_doubling;
pub mod ring;
pub mod two_level;
