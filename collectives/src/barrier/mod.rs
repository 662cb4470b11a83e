//! Barrier algorithms (`MPI_Barrier`): no rank leaves before every rank entered.

pub mod dissemination;
pub mod recursive_doubling;
pub mod two_level;
