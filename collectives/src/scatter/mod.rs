//! Scatter algorithms (`MPI_Scatter`): the root sends each rank one block,
//! all blocks the same size.

pub mod binomial;
pub mod linear;
