//! The example programs as real jobs: hello, bcast, psum and ring at several
//! sizes, over shared memory and over TCP, and a program started with no
//! launcher (a singleton).

mod common;
use common::*;

fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[test]
fn hello_prints_one_line_per_rank_for_five_ranks() {
    let out = Job::new(5, "hello").run();
    out.assert_ok();
    let h = host();
    let want: Vec<String> = (0..5).map(|r| format!("Hello, World! I am process {r} of 5 on {h}.")).collect();
    assert_eq!(out.sorted_lines(), want);
}

#[test]
fn hello_without_launcher_is_a_singleton() {
    let out = Job::direct(example("hello")).run();
    out.assert_ok();
    assert_eq!(out.stdout.trim(), format!("Hello, World! I am process 0 of 1 on {}.", host()));
}

fn check_example(name: &str, n: usize, tcp: bool, expect: impl Fn(usize) -> String) {
    let job = Job::new(n, name);
    let job = if tcp { job.tcp() } else { job };
    let out = job.run();
    out.assert_ok();
    for r in 0..n {
        let line = expect(r);
        if line.is_empty() {
            continue;
        }
        assert!(
            out.stdout.lines().any(|l| l == line),
            "{name} -n {n} (tcp={tcp}): missing line {line:?}\n{}",
            out.stdout
        );
    }
}

fn sizes() -> [usize; 4] {
    [1, 2, 4, 7]
}

#[test]
fn bcast_checks_on_every_rank_over_shared_memory() {
    for n in sizes() {
        check_example("bcast", n, false, |r| format!("rank {r}: bcast ok"));
    }
}

#[test]
fn bcast_checks_on_every_rank_over_tcp() {
    for n in sizes() {
        check_example("bcast", n, true, |r| format!("rank {r}: bcast ok"));
    }
}

#[test]
fn psum_gives_120_on_every_rank_over_shared_memory() {
    for n in sizes() {
        check_example("psum", n, false, |r| format!("rank {r}: sum = 120"));
    }
}

#[test]
fn psum_gives_120_on_every_rank_over_tcp() {
    for n in sizes() {
        check_example("psum", n, true, |r| format!("rank {r}: sum = 120"));
    }
}

#[test]
fn ring_passes_the_token_n_times_over_shared_memory() {
    for n in sizes() {
        check_example("ring", n, false, |r| if r == 0 { format!("ring ok: token = {}", n * n) } else { String::new() });
    }
}

#[test]
fn ring_passes_the_token_n_times_over_tcp() {
    for n in sizes() {
        check_example("ring", n, true, |r| if r == 0 { format!("ring ok: token = {}", n * n) } else { String::new() });
    }
}

#[test]
fn large_first_message_over_tcp_gets_its_reply_route() {
    // Rank 1's first contact with rank 0 is rank 0's rendezvous request: its
    // clear-to-send must find a route back although rank 1 never sent yet.
    let out = Job::new(2, "pingpong").args(["--size", "4194304", "--iters", "3"]).tcp().run();
    out.assert_ok();
    assert!(out.stdout.contains("size=4194304"), "{}", out.stdout);
}

#[test]
fn point_to_point_semantics_hold_across_processes() {
    for (n, tcp) in [(2, false), (3, false), (2, true), (3, true)] {
        let job = Job::new(n, "p2p_semantics");
        let out = if tcp { job.tcp() } else { job }.run();
        out.assert_ok();
        assert_eq!(out.stdout.lines().filter(|l| l.ends_with("p2p ok")).count(), n, "n={n} tcp={tcp}: {}", out.stdout);
    }
}

#[test]
fn direct_receives_keep_order_matching_and_truncation() {
    // Shared memory (where the direct receive runs, and with it switched
    // off for comparison), then TCP, which never takes it.
    for (n, tcp, direct) in [(2, false, "1"), (3, false, "1"), (2, false, "0"), (2, true, "1")] {
        let job = Job::new(n, "direct_recv").env("RMPI_DIRECT_RECV", direct);
        let out = if tcp { job.tcp() } else { job }.run();
        out.assert_ok();
        let ok = out.stdout.lines().filter(|l| l.ends_with("direct ok")).count();
        assert_eq!(ok, n, "n={n} tcp={tcp} direct={direct}: {}", out.stdout);
    }
}

#[test]
fn many_threads_per_rank_exchange_concurrently() {
    for tcp in [false, true] {
        let job = Job::new(2, "threads");
        let out = if tcp { job.tcp() } else { job }.run();
        out.assert_ok();
        assert_eq!(out.stdout.lines().filter(|l| l.ends_with("threads ok")).count(), 2, "tcp={tcp}: {}", out.stdout);
    }
}

/// `packets_sent=N` of the given transport on a `counters` line.
fn packets_sent(out: &str, transport: &str) -> u64 {
    out.lines()
        .filter(|l| l.contains(&format!(" {transport} packets_sent=")))
        .filter_map(|l| l.split("packets_sent=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn traffic_takes_shared_memory_on_one_node_and_tcp_when_forced() {
    let out = Job::new(2, "counters").run();
    out.assert_ok();
    assert!(packets_sent(&out.stdout, "shm") > 0, "shm carries traffic by default:\n{}", out.stdout);
    assert_eq!(packets_sent(&out.stdout, "tcp"), 0, "no TCP between local ranks:\n{}", out.stdout);
    let out = Job::new(2, "counters").tcp().run();
    out.assert_ok();
    assert!(packets_sent(&out.stdout, "tcp") > 0, "TCP carries traffic when forced:\n{}", out.stdout);
    assert_eq!(packets_sent(&out.stdout, "shm"), 0, "no shared memory when TCP is forced:\n{}", out.stdout);
}

#[test]
fn unbound_ranks_put_on_one_cpu_move_apart() {
    // Such ranks yield to each other and look cache-hot to the kernel's
    // balancer: mpi4py ranks stayed together for whole runs; these small
    // Rust ranks part after 1000-7000 round trips without the move, after
    // the first batch (200) with it. This checks that they end apart.
    let out = Job::with_launcher_args(2, "colocated", &["--bind-to", "none"]).args(["--seconds", "30"]).run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.contains("colocated ok") || l.contains("colocated skipped")).count();
    assert_eq!(ok, 2, "{}", out.stdout);
}
