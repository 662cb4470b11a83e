//! The collectives matrix through the C ABI (tests/c/coll_matrix.c: every
//! collective in blocking, nonblocking and persistent form, counts 0, 1,
//! odd and large, in place, every root, derived datatypes, non-commutative
//! operators, intercommunicators, neighbourhoods, dozens of nonblocking
//! collectives in flight on several communicators) at 1, 2, 3, 4, 7 and 9
//! ranks (oversubscribed on small machines), over shared memory and TCP,
//! and with every registered algorithm forced through its `RMPI_COLL_*`
//! override (a few jobs at 3 and 4 ranks, each forcing one algorithm of
//! every collective at once).

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{compile, run, text};
use rmpi_runtime::select::{sweep, sweep_len};

/// The program, compiled once for all the tests of this file (they run in
/// parallel threads; compiling it again while another runs would fail).
fn exe() -> &'static PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("coll_matrix"))
}

fn passes(n: usize, env: &[(&str, &str)]) {
    let o = run(n, exe(), env);
    let (out, err) = text(&o);
    assert!(o.status.success(), "coll_matrix on {n} ranks with {env:?} failed ({}):\n{out}\n{err}", o.status);
    assert!(out.contains("coll_matrix OK"), "{out}\n{err}");
}

#[test]
fn matrix_over_shared_memory() {
    for n in [1, 2, 3, 4, 7, 9] {
        passes(n, &[]);
    }
}

#[test]
fn matrix_over_tcp() {
    for n in [1, 2, 3, 4, 7, 9] {
        passes(n, &[("RMPI_TRANSPORT", "tcp")]);
    }
}

#[test]
fn matrix_with_every_algorithm_forced() {
    for k in 0..sweep_len() {
        let env = sweep(k, false);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for n in [3, 4] {
            passes(n, &env);
        }
    }
}

/// Pretended nodes (`RMPI_NODE_MAP`): shared memory inside a node, TCP
/// between nodes, and the node-aware forms chosen by default (consecutive
/// and interleaved node maps); and every algorithm forced across nodes.
#[test]
fn matrix_across_pretended_nodes() {
    for (n, map) in [(4, "2"), (7, "0,1,0,1,2,2,0"), (9, "3")] {
        passes(n, &[("RMPI_NODE_MAP", map)]);
    }
    for k in 0..sweep_len() {
        let mut env = sweep(k, false);
        env.push(("RMPI_NODE_MAP".into(), "2"));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        passes(4, &env);
    }
}
