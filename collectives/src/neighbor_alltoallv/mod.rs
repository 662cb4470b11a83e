//! Neighbourhood alltoallv algorithms (`MPI_Neighbor_alltoallv`/`w`): a
//! block of its own size to each destination, one from each source.

pub mod linear;
