//! Long runs of small shared-memory barriers, allreduces and bcasts
//! (runtime/src/shmcoll) through the C ABI with ranks arriving late in
//! turn, at -n 9 (ranks outnumbering this 2-core machine's cores, where
//! waiters spin or yield by where the ranks they wait for run), 4 and 2:
//! barrier exclusion checked through a shared window, every value checked,
//! broadcast runs longer than the area's ring of lines.

mod common;

use common::{compile, run, text};

fn passes(ranks: usize, env: &[(&str, &str)]) {
    static EXE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let exe = EXE.get_or_init(|| compile("shmsync"));
    let o = run(ranks, exe, env);
    let (out, err) = text(&o);
    assert!(o.status.success(), "shmsync on {ranks} ranks {env:?} failed ({}):\n{out}\n{err}", o.status);
    assert!(out.contains("shmsync OK"), "shmsync {ranks} {env:?}:\n{out}\n{err}");
}

#[test]
fn late_ranks_back_to_back_values_and_exclusion() {
    for n in [9, 4, 2] {
        passes(n, &[]);
    }
}

#[test]
fn same_program_on_the_message_path() {
    passes(4, &[("RMPI_SHMCOLL", "0")]);
}
