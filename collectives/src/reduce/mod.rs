//! Reduce algorithms (`MPI_Reduce`): the root gets `x_0 op x_1 op ... op x_{n-1}`.

pub mod binomial;
pub mod rabenseifner;
