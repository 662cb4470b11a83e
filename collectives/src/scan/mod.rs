//! Inclusive scan algorithms (`MPI_Scan`): rank `i` gets `x_0 op ... op x_i`.

pub mod recursive_doubling;
