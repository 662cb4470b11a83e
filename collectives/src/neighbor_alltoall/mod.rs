//! Neighbourhood alltoall algorithms (`MPI_Neighbor_alltoall`).

pub mod linear;
