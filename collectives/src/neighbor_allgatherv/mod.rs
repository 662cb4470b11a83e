//! Neighbourhood allgatherv algorithms (`MPI_Neighbor_allgatherv`).

pub mod linear;
