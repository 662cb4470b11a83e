//! Allreduce algorithms (`MPI_Allreduce`): every rank gets
//! `x_0 op x_1 op ... op x_{n-1}`, bitwise identical on all ranks.

pub mod rabenseifner;
pub mod recursive_doubling;
pub mod reduce_bcast;
pub mod ring;
pub mod two_level;
