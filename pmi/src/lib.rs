//! PMI wire protocols (filled in by the PMI work).
