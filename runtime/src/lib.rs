//! rmpi runtime.
