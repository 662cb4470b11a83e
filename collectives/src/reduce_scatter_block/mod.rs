//! Reduce-scatter-block algorithms (`MPI_Reduce_scatter_block`): like
//! reduce-scatter with every block the same size.

pub mod recursive_halving;
pub mod reduce_scatter;
