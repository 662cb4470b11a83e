//! Reduce-scatter algorithms (`MPI_Reduce_scatter`): the vector
//! `x_0 op ... op x_{n-1}` is cut into per-rank blocks (counts known on
//! every rank) and rank `i` gets block `i`.

pub mod recursive_halving;
pub mod reduce_scatterv;
