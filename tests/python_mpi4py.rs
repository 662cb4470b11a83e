//! The stock mpi4py 4.1.2 wheel on rmpi's `libmpi.so.12` (issue 3, Python
//! acceptance 1-4).
//!
//! Every test runs `build/prefix/bin/rmpirun` (or `mpiexec`) with
//! `LD_LIBRARY_PATH=build/prefix/lib` first, in the venv that
//! `tests/python/venv.sh` makes (stock wheels `mpi4py==4.1.2 numpy
//! ipyparallel` from PyPI; the first test to need it makes it). Tests run one
//! at a time (they share two cores).
//!
//! Applicability: while the abi crate does not exist (`abi/Cargo.toml`),
//! there is no `libmpi.so.12` to test and each test says so and returns.
//! Once it exists, a missing `build/prefix/lib/libmpi.so.12` is a failure
//! (`make build stage` installs it; `make test` does that first).
//!
//! `RMPI_MPI4PY_AGAINST=mpich` runs the same tests on the mpich 5.0.2 wheel
//! instead (its venv `build/venv-mpich` and its own `mpiexec`, no
//! LD_LIBRARY_PATH), to prove the tests themselves; there the library
//! version must name MPICH and the suite is compared with its own baseline.

mod common;
use common::*;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prefix() -> PathBuf {
    root().join("build/prefix")
}

/// The tests run on the mpich wheel instead of rmpi (see the top of the file).
fn against_mpich() -> bool {
    std::env::var("RMPI_MPI4PY_AGAINST").is_ok_and(|v| v == "mpich")
}

fn venv_python() -> PathBuf {
    if against_mpich() {
        root().join("build/venv-mpich/bin/python")
    } else {
        root().join("build/venv-mpi4py/bin/python")
    }
}

/// `rmpirun` or `mpiexec` of the install under test.
fn launcher(name: &str) -> PathBuf {
    if against_mpich() {
        root().join("build/venv-mpich/bin/mpiexec")
    } else {
        prefix().join("bin").join(name)
    }
}

fn script(name: &str) -> PathBuf {
    root().join("tests/python").join(name)
}

fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Serializes the tests of this file; `None` when they are not applicable yet.
fn setup(test: &str) -> Option<MutexGuard<'static, ()>> {
    static SERIAL: Mutex<()> = Mutex::new(());
    static VENV: OnceLock<Result<(), String>> = OnceLock::new();
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let lib = prefix().join("lib/libmpi.so.12");
    if against_mpich() {
        println!("{test}: on the mpich wheel (RMPI_MPI4PY_AGAINST=mpich), not on rmpi");
    } else if !root().join("abi/Cargo.toml").exists() {
        println!("{test}: not applicable: the abi crate (abi/Cargo.toml) does not exist yet, so there is no libmpi.so.12 to run mpi4py on");
        return None;
    }
    if !against_mpich() {
        assert!(
            lib.exists(),
            "{test}: {} is missing although the abi crate exists: run `make build stage` (make test does)",
            lib.display()
        );
        for bin in ["rmpirun", "mpiexec"] {
            assert!(
                prefix().join("bin").join(bin).exists(),
                "{test}: build/prefix/bin/{bin} is missing: run `make stage`"
            );
        }
    }
    let venv = VENV.get_or_init(|| {
        let out = Job::direct(script("venv.sh"))
            .env("RMPI_VENV_SKIP_MPICH", if against_mpich() { "0" } else { "1" })
            .timeout(Duration::from_secs(900))
            .run();
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("tests/python/venv.sh failed ({:?}):\n{}\n{}", out.status, out.stdout, out.stderr))
        }
    });
    if let Err(e) = venv {
        panic!("{test}: {e}");
    }
    Some(guard)
}

fn ld_library_path() -> String {
    if against_mpich() {
        return std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    }
    let lib = prefix().join("lib");
    match std::env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    }
}

/// `build/prefix/bin/<launcher> -n N <venv python> args...` with rmpi's lib first.
fn py_job(name: &str, n: usize, args: &[&str]) -> Job {
    Job::direct(launcher(name))
        .args(["-n".to_string(), n.to_string(), venv_python().display().to_string()])
        .args(args)
        .env("LD_LIBRARY_PATH", &ld_library_path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .timeout(Duration::from_secs(180))
}

fn lines_with<'a>(out: &'a JobOutput, needle: &str) -> Vec<&'a str> {
    out.stdout.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn helloworld_prints_five_lines() {
    let Some(_g) = setup("helloworld_prints_five_lines") else { return };
    let m = marker("hello");
    let out = py_job("rmpirun", 5, &["-m", "mpi4py.bench", "helloworld"]).marked(&m).run();
    out.assert_ok();
    let h = host();
    let want: Vec<String> = (0..5).map(|r| format!("Hello, World! I am process {r} of 5 on {h}.")).collect();
    assert_eq!(out.sorted_lines(), want, "stderr:\n{}", out.stderr);
    assert_no_process_left(&m, Duration::from_secs(10));
}

#[test]
fn library_version_names_rmpi() {
    let Some(_g) = setup("library_version_names_rmpi") else { return };
    let expect = if against_mpich() { "0" } else { "1" };
    let out = py_job("rmpirun", 2, &[script("library_version.py").to_str().unwrap()]).env("RMPI_EXPECT", expect).run();
    out.assert_ok();
    let lib = lines_with(&out, "library: ");
    assert_eq!(lib.len(), 1, "one library line expected:\n{}", out.stdout);
    let name = if against_mpich() { "mpich" } else { "rmpi" };
    assert!(lib[0].to_lowercase().contains(name), "{}", lib[0]);
    println!("{}", out.stdout.trim());
}

fn expect_every_rank(out: &JobOutput, n: usize, line: impl Fn(usize) -> String) {
    for r in 0..n {
        let want = line(r);
        // rmpirun forwards whole lines; MPICH's hydra may splice two ranks' lines.
        let found = if against_mpich() { out.stdout.contains(&want) } else { out.stdout.lines().any(|l| l == want) };
        assert!(found, "missing line {want:?}\n--- stdout\n{}\n--- stderr\n{}", out.stdout, out.stderr);
    }
}

#[test]
fn bcast_arange_100_on_4_ranks() {
    let Some(_g) = setup("bcast_arange_100_on_4_ranks") else { return };
    let out = py_job("rmpirun", 4, &[script("bcast_arange.py").to_str().unwrap()]).run();
    out.assert_ok();
    expect_every_rank(&out, 4, |r| format!("rank {r} of 4: bcast ok (100 elements, 400 bytes)"));
}

#[test]
fn bcast_arange_64_mib_on_4_ranks() {
    let Some(_g) = setup("bcast_arange_64_mib_on_4_ranks") else { return };
    let out = py_job("rmpirun", 4, &[script("bcast_arange.py").to_str().unwrap(), "--mib", "64"]).run();
    out.assert_ok();
    expect_every_rank(&out, 4, |r| format!("rank {r} of 4: bcast ok (16777216 elements, 67108864 bytes)"));
}

#[test]
fn psum_gives_120_on_4_ranks() {
    let Some(_g) = setup("psum_gives_120_on_4_ranks") else { return };
    let out = py_job("rmpirun", 4, &[script("psum.py").to_str().unwrap()]).run();
    out.assert_ok();
    expect_every_rank(&out, 4, |r| format!("rank {r} of 4: psum 120.0"));
}

#[test]
fn bench_ringtest_runs() {
    let Some(_g) = setup("bench_ringtest_runs") else { return };
    for (n, args) in [(4, vec![]), (3, vec!["-n", "65536", "-l", "50"])] {
        let mut a = vec!["-m", "mpi4py.bench", "ringtest"];
        a.extend(args.iter().copied());
        let out = py_job("rmpirun", n, &a).run();
        out.assert_ok();
        let bytes = if args.is_empty() { "1" } else { "65536" };
        let loops = if args.is_empty() { "1" } else { "50" };
        let l = lines_with(&out, "time for ");
        assert!(
            l.len() == 1
                && l[0].starts_with(&format!("time for {loops} loops = "))
                && l[0].ends_with(&format!("seconds ({n} processes, {bytes} bytes)")),
            "ringtest -n {n} {args:?}:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn bench_pingpong_runs() {
    let Some(_g) = setup("bench_pingpong_runs") else { return };
    // Up to 4 MiB (the default goes to 1 GiB); buffers, then pickled objects.
    for extra in [&[][..], &["-p"][..]] {
        let mut a = vec!["-m", "mpi4py.bench", "pingpong", "-n", "4194304"];
        a.extend_from_slice(extra);
        let out = py_job("rmpirun", 2, &a).run();
        out.assert_ok();
        assert!(out.stdout.contains("# MPI PingPong Test"), "{}\n{}", out.stdout, out.stderr);
        // One row per power of two from 1 B to 4 MiB: size, bandwidth | time ± stddev samples.
        let rows: Vec<u64> = out
            .stdout
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('|'))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        let want: Vec<u64> = (0..=22).map(|k| 1u64 << k).collect();
        assert_eq!(rows, want, "pingpong {extra:?} rows:\n{}\n{}", out.stdout, out.stderr);
    }
}

#[test]
fn futures_pool_maps_20_items_on_3_ranks() {
    let Some(_g) = setup("futures_pool_maps_20_items_on_3_ranks") else { return };
    let m = marker("futures");
    let out =
        py_job("rmpirun", 3, &["-m", "mpi4py.futures", script("futures_map.py").to_str().unwrap()]).marked(&m).run();
    out.assert_ok();
    assert_eq!(
        lines_with(&out, "futures ok: 20 results from workers [1, 2]").len(),
        1,
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_no_process_left(&m, Duration::from_secs(10));
}

#[test]
fn ipyparallel_mpi_cluster_psum_and_clean_stop() {
    let Some(_g) = setup("ipyparallel_mpi_cluster_psum_and_clean_stop") else { return };
    let m = marker("ipyparallel");
    let mpiexec = launcher("mpiexec");
    let out = Job::direct(venv_python())
        .args([script("ipyparallel_psum.py").to_str().unwrap(), "--mpiexec", mpiexec.to_str().unwrap(), "--n", "4"])
        .env("LD_LIBRARY_PATH", &ld_library_path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .marked(&m)
        .timeout(Duration::from_secs(600))
        .run();
    out.assert_ok();
    assert!(
        out.stdout.contains("psum on every engine: [120.0, 120.0, 120.0, 120.0]"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("ipyparallel ok:"), "{}\n{}", out.stdout, out.stderr);
    // The engines, mpiexec, controller and ipcluster all carry the marker.
    assert_no_process_left(&m, Duration::from_secs(15));
}

/// Counts from one line `np=N passed=P failed=F errors=E skipped=S ...`.
fn counts(line: &str) -> Option<[u64; 4]> {
    let get = |k: &str| line.split_whitespace().find_map(|w| w.strip_prefix(k)?.parse::<u64>().ok());
    Some([get("passed=")?, get("failed=")?, get("errors=")?, get("skipped=")?])
}

fn mpi4py_suite(np: usize) {
    let test = format!("mpi4py_test_suite_np{np}");
    let Some(_g) = setup(&test) else { return };
    let lib = if against_mpich() { "mpich" } else { "rmpi" };
    let out_dir = root().join(format!("build/mpi4py-suite/{lib}-np{np}"));
    let run_timeout = 900;
    let out = Job::direct(script("run_suite.sh"))
        .args([lib.to_string(), np.to_string(), out_dir.display().to_string(), run_timeout.to_string()])
        .timeout(Duration::from_secs(run_timeout + 120))
        .run();
    let summary = out.stdout.lines().find(|l| l.starts_with(&format!("np={np} "))).unwrap_or_default().to_string();
    let ours = counts(&summary).unwrap_or_else(|| panic!("{test}: no summary line:\n{}\n{}", out.stdout, out.stderr));

    let base = Job::direct(venv_python())
        .args([
            script("mpi4py_suite.py").display().to_string(),
            "baseline".into(),
            script("mpich_baseline.json").display().to_string(),
            "--np".into(),
            np.to_string(),
        ])
        .run();
    base.assert_ok();
    let mpich = counts(base.stdout.trim()).unwrap_or_else(|| panic!("{test}: baseline: {}", base.stdout));

    println!("{test}: {lib:5} {}", summary);
    println!("{test}: mpich {} (tests/python/mpich_baseline.json)", base.stdout.trim());
    let detail = || {
        let s = std::fs::read_to_string(out_dir.join("summary.json")).unwrap_or_default();
        let tail: String = {
            let t = std::fs::read_to_string(out_dir.join("output.txt")).unwrap_or_default();
            t.chars().rev().take(6000).collect::<Vec<_>>().into_iter().rev().collect()
        };
        format!("--- {}\n{}\n--- summary.json\n{s}\n--- end of output.txt\n{tail}", out.stdout, out.stderr)
    };
    // No crash, no hang: every rank finished the suite within the deadline.
    assert!(
        out.status.success() && summary.contains("complete=yes"),
        "{test}: the suite did not complete on every rank (crash or hang; a timeout counts as a failure)\n{}",
        detail()
    );
    assert!(out.stdout.contains("timed_out=no"), "{test}: timed out\n{}", detail());
    // At least 90% of MPICH's passes at the same np.
    let need = (mpich[0] * 9).div_ceil(10);
    assert!(
        ours[0] >= need,
        "{test}: {} tests passed, MPICH passes {} (need >= {need})\n{}",
        ours[0],
        mpich[0],
        detail()
    );
}

#[test]
fn mpi4py_test_suite_np1() {
    mpi4py_suite(1);
}

#[test]
fn mpi4py_test_suite_np2() {
    mpi4py_suite(2);
}
