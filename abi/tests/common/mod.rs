//! Shared helpers of the ABI tests: the staged install (`make build stage`
//! puts it in build/prefix), compiling the C programs in tests/c with its
//! rmpicc, and running them with its rmpirun.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("abi/ has a parent").to_path_buf()
}

/// The staged install prefix; panics with instructions when it is missing.
pub fn prefix() -> PathBuf {
    let p = root().join("build/prefix");
    for f in ["bin/rmpicc", "bin/rmpirun", "lib/libmpi.so.12", "include/mpi.h"] {
        assert!(
            p.join(f).exists(),
            "the staged install is missing {} (looked in {}): run `make build stage` first",
            f,
            p.display()
        );
    }
    p
}

/// Where compiled test programs go.
pub fn out_dir() -> PathBuf {
    let d = root().join("target/abi-tests");
    std::fs::create_dir_all(&d).expect("create target/abi-tests");
    d
}

/// Compile tests/c/NAME.c with the staged rmpicc; returns the executable.
pub fn compile(name: &str) -> PathBuf {
    let exe = out_dir().join(format!("rmpicc-{name}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let out = Command::new(prefix().join("bin/rmpicc"))
        .args(["-Wall", "-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("run rmpicc");
    assert!(out.status.success(), "rmpicc {} failed:\n{}", src.display(), String::from_utf8_lossy(&out.stderr));
    exe
}

/// Run `exe` on `n` ranks with the staged rmpirun (60 s limit).
pub fn run(n: usize, exe: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(prefix().join("bin/rmpirun"));
    c.args(["--timeout", "60", "-n", &n.to_string()]).arg(exe);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run rmpirun")
}

/// Text of a process's stdout and stderr.
pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Exported dynamic symbols of the staged libmpi.so.12: (name, nm type letter).
pub fn exported_symbols() -> Vec<(String, String)> {
    let lib = prefix().join("lib/libmpi.so.12");
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(&lib).output().expect("run nm");
    assert!(out.status.success(), "nm failed on {}", lib.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| (f[2].to_string(), f[1].to_string()))
        })
        .collect()
}

/// A list of symbol names kept in tests/data.
pub fn data_list(file: &str) -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .split_whitespace()
        .map(String::from)
        .collect()
}
