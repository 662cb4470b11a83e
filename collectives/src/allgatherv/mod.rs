//! Allgatherv algorithms (`MPI_Allgatherv`): every rank gets every rank's
//! block, blocks of per-rank sizes placed by a [`Layout`](crate::Layout)
//! that all ranks know.

pub mod gather_bcast;
pub mod ring;
