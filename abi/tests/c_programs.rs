//! C programs built with the staged rmpicc and run with rmpirun: point-to-point,
//! collectives and ops, derived datatypes, attributes, error classes, the fatal
//! default handler, one-sided communication (RMA windows), MPI-IO, and MPI-4
//! sessions, partitioned communication and friends, and the MPI_T tool interface.

mod common;

use common::{compile, run, text};

fn passes(name: &str, ranks: usize, expect: &str) {
    let exe = compile(name);
    let o = run(ranks, &exe, &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{name} on {ranks} ranks failed ({}):\n{out}\n{err}", o.status);
    assert!(out.contains(expect), "{name}: expected {expect:?} in:\n{out}\n{err}");
}

#[test]
fn point_to_point_values_statuses_truncation_probes_persistent_buffered() {
    passes("p2p", 2, "p2p OK");
    passes("p2p", 4, "p2p OK");
}

#[test]
fn collectives_with_predefined_pair_and_user_ops() {
    passes("coll", 1, "coll OK");
    passes("coll", 3, "coll OK");
    passes("coll", 4, "coll OK");
}

#[test]
fn derived_datatypes_transfer_pack_and_describe_themselves() {
    passes("types", 1, "types OK");
    passes("types", 3, "types OK");
}

#[test]
fn topologies_cartesian_graph_and_distributed_graph() {
    passes("topo", 1, "topo OK");
    passes("topo", 4, "topo OK");
    passes("topo", 6, "topo OK");
}

#[test]
fn intercommunicators_create_talk_reduce_and_merge() {
    passes("inter", 2, "inter OK");
    passes("inter", 5, "inter OK");
}

#[test]
fn generalized_requests_create_group_and_neighbourhood_collectives() {
    passes("extra", 1, "extra OK");
    passes("extra", 2, "extra OK");
    passes("extra", 5, "extra OK");
}

#[test]
fn one_sided_fence_pscw_passive_atomics_dynamic_and_shared_windows() {
    passes("rma", 1, "rma OK");
    passes("rma", 2, "rma OK");
    passes("rma", 3, "rma OK");
    // Over TCP too (the engine's rendezvous streams the large put).
    let exe = compile("rma");
    let o = run(3, &exe, &[("RMPI_TRANSPORT", "tcp")]);
    let (out, err) = text(&o);
    assert!(o.status.success() && out.contains("rma OK"), "rma over TCP failed ({}):\n{out}\n{err}", o.status);
}

#[test]
fn mpi_io_offsets_views_shared_and_ordered_pointers_and_file_errors() {
    passes("io", 1, "io OK");
    passes("io", 3, "io OK");
}

#[test]
fn sessions_split_types_buffers_partitioned_status_intercomm_dup_and_ports() {
    passes("mpi4", 1, "mpi4 OK");
    passes("mpi4", 2, "mpi4 OK");
    passes("mpi4", 5, "mpi4 OK");
}

#[test]
fn a_program_using_only_sessions_starts_and_ends_mpi_with_them() {
    passes("session_only", 1, "session_only OK");
    passes("session_only", 3, "session_only OK");
}

#[test]
fn tool_interface_exposes_nothing_has_real_sessions_and_nests_around_mpi_init() {
    // As a singleton (no launcher) and under rmpirun; the program exits 1 naming any call that answered wrong.
    let exe = compile("tool");
    let o = std::process::Command::new("timeout").arg("60").arg(&exe).output().expect("run the singleton");
    let (out, err) = text(&o);
    assert!(
        o.status.success() && out.contains("rank 0: tool OK"),
        "tool as a singleton failed ({}):\n{out}\n{err}",
        o.status
    );
    let o = run(2, &exe, &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "tool on 2 ranks failed ({}):\n{out}\n{err}", o.status);
    assert!(out.contains("rank 0: tool OK") && out.contains("rank 1: tool OK"), "{out}\n{err}");
}

#[test]
fn attribute_callbacks_run_on_dup_and_free() {
    passes("attr", 2, "attr OK");
}

#[test]
fn invalid_arguments_return_their_class_with_errors_return() {
    passes("errors", 2, "errors OK");
}

#[test]
fn default_handler_ends_the_job_and_names_the_function() {
    let exe = compile("fatal");
    let o = run(2, &exe, &[]);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "an invalid rank must end the job:\n{out}\n{err}");
    assert!(!out.contains("still alive"), "the program went on after the error:\n{out}");
    assert!(err.contains("MPI_Send: invalid rank 5 (communicator of size 2)"), "stderr must name the call:\n{err}");
}

#[test]
fn a_window_error_under_the_default_handler_ends_the_job() {
    let exe = compile("rma_fatal");
    let o = run(2, &exe, &[]);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "an access outside the window must end the job:\n{out}\n{err}");
    assert!(!out.contains("still alive"), "the program went on after the error:\n{out}");
    assert!(err.contains("MPI_Put: ") && err.contains("MPI_ERR_RMA_RANGE"), "stderr must name the call:\n{err}");
}

#[test]
fn rmpicc_show_prints_the_command_line() {
    let p = common::prefix();
    let o = std::process::Command::new(p.join("bin/rmpicc")).args(["-show", "x.c"]).output().expect("rmpicc -show");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(&format!("-I{}/include", p.display())) && s.contains("-lmpi") && s.contains("-rpath"), "{s}");
    let o = std::process::Command::new(p.join("bin/rmpicc"))
        .arg("-compile-info")
        .env("RMPI_CC", "my-cc")
        .output()
        .expect("rmpicc -compile-info");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.starts_with("my-cc ") && !s.contains("-lmpi"), "{s}");
}
