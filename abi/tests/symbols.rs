//! The shared library's interface: soname, the symbols the stock mpi4py
//! wheel needs, MPICH's answer to MPI_Abi_get_version, nothing of Open MPI's.

mod common;

use std::collections::HashSet;
use std::process::Command;

#[test]
fn soname_is_libmpi_so_12() {
    let lib = common::prefix().join("lib/libmpi.so.12");
    let o = Command::new("readelf").arg("-d").arg(&lib).output().expect("run readelf");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("Library soname: [libmpi.so.12]"), "{s}");
}

#[test]
fn every_strong_mpi4py_symbol_is_exported_in_both_names() {
    let have: HashSet<String> = common::exported_symbols().into_iter().map(|s| s.0).collect();
    let strong = common::data_list("mpi4py-4.1.2-mpich-strong.txt");
    assert_eq!(strong.len(), 339);
    let missing: Vec<&String> = strong.iter().filter(|s| !have.contains(*s)).collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    let kinds: std::collections::HashMap<String, String> = common::exported_symbols().into_iter().collect();
    let no_pmpi: Vec<&String> =
        strong.iter().filter(|s| kinds.get(*s).is_some_and(|k| k == "T") && !have.contains(&format!("P{s}"))).collect();
    assert!(no_pmpi.is_empty(), "no PMPI_ twin: {no_pmpi:?}");
}

#[test]
fn nothing_of_open_mpi_is_exported() {
    let bad: Vec<String> = common::exported_symbols()
        .into_iter()
        .map(|s| s.0)
        .filter(|s| s.starts_with("ompi_") || s.starts_with("OMPI_"))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn abi_get_version_answers_minus_one_like_mpich() {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two valid int pointers.
    let rc = unsafe { mpi::misc::MPI_Abi_get_version(&mut major, &mut minor) };
    assert_eq!((rc, major, minor), (0, -1, -1));
}

#[test]
fn data_symbols_the_header_names_are_exported() {
    let have: HashSet<String> = common::exported_symbols().into_iter().map(|s| s.0).collect();
    for s in [
        "MPI_UNWEIGHTED",
        "MPI_WEIGHTS_EMPTY",
        "MPI_F_STATUS_IGNORE",
        "MPI_F_STATUSES_IGNORE",
        "MPI_F08_STATUS_IGNORE",
        "MPI_T_PVAR_ALL_HANDLES",
    ] {
        assert!(have.contains(s), "{s} not exported");
    }
}
