//! Gather algorithms (`MPI_Gather`): the root gets every rank's block, all
//! blocks the same size, in rank order.

pub mod binomial;
pub mod linear;
