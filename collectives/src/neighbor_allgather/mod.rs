//! Neighbourhood allgather algorithms (`MPI_Neighbor_allgather`).

pub mod linear;
