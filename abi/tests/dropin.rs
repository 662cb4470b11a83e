//! The drop-in proof: a program compiled by the MPICH 5.0.2 wheel's own mpicc
//! (MPICH's header, linked to MPICH's libmpi.so.12) runs unchanged on rmpi
//! when only LD_LIBRARY_PATH points at our library.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// A venv with the mpich 5.0.2 wheel under build/ (made if missing, once:
/// the tests of this file run in parallel).
fn mpich_venv() -> PathBuf {
    static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(make_mpich_venv).clone()
}

fn make_mpich_venv() -> PathBuf {
    let shared = common::root().join("build/venv-mpich");
    if shared.join("bin/mpicc").exists() {
        return shared;
    }
    let v = common::root().join("build/venv-mpich-abi");
    if !v.join("bin/mpicc").exists() {
        let ok = Command::new("python3").args(["-m", "venv"]).arg(&v).status().expect("python3 -m venv").success();
        assert!(ok, "could not create {}", v.display());
        let ok = Command::new(v.join("bin/pip"))
            .args(["install", "-q", "mpich==5.0.2"])
            .status()
            .expect("pip install mpich==5.0.2")
            .success();
        assert!(ok, "pip install mpich==5.0.2 failed");
    }
    v
}

#[test]
fn program_built_by_mpich_mpicc_runs_on_rmpi() {
    let prefix = common::prefix();
    let venv = mpich_venv();
    let exe = common::out_dir().join("mpich-mpicc-version");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c/version.c");
    let o = Command::new(venv.join("bin/mpicc")).arg("-o").arg(&exe).arg(&src).output().expect("run MPICH's mpicc");
    assert!(o.status.success(), "MPICH's mpicc failed: {}", String::from_utf8_lossy(&o.stderr));
    let o = common::run(3, &exe, &[("LD_LIBRARY_PATH", prefix.join("lib").to_str().expect("utf-8 path"))]);
    let (out, err) = common::text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("library: rmpi "), "the program did not run on rmpi:\n{out}");
    assert!(out.contains("sum: 3 of 3 ranks"), "{out}");
}

#[test]
fn tool_interface_program_built_by_mpich_mpicc_runs_on_rmpi() {
    // MPICH's numbers for the MPI_T error classes and constants, and its
    // exported MPI_T_PVAR_ALL_HANDLES, must be ours.
    let prefix = common::prefix();
    let venv = mpich_venv();
    let exe = common::out_dir().join("mpich-mpicc-tool");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c/tool.c");
    let o = Command::new(venv.join("bin/mpicc")).arg("-o").arg(&exe).arg(&src).output().expect("run MPICH's mpicc");
    assert!(o.status.success(), "MPICH's mpicc failed: {}", String::from_utf8_lossy(&o.stderr));
    let o = common::run(2, &exe, &[("LD_LIBRARY_PATH", prefix.join("lib").to_str().expect("utf-8 path"))]);
    let (out, err) = common::text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("rank 0: tool OK") && out.contains("rank 1: tool OK"), "{out}\n{err}");
}
