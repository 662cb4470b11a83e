//! Exclusive scan algorithms (`MPI_Exscan`): rank `i > 0` gets
//! `x_0 op ... op x_{i-1}`.

pub mod recursive_doubling;
