//! cma transport (in progress).
