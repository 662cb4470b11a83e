//! rmpi: MPI in Rust.
