//! The libfabric transport in real jobs (`RMPI_TRANSPORT=ofi`): the
//! point-to-point stress test and every collective over libfabric's `tcp`
//! provider (with `ofi_rxm`) and its `shm` provider on one machine, the same
//! between two network namespaces joined by a veth pair (root only), a
//! killed rank ending the job, and `RMPI_VERBOSE` naming the provider.
//!
//! Every test is skipped, with a message, when `libfabric.so.1` cannot be
//! loaded (CI installs `libfabric1`). Message counts are smaller than in
//! `stress.rs`: libfabric's socket providers are slower than rmpi's own
//! transports, and the point here is the ofi path, not the engine.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn libfabric_present() -> bool {
    // SAFETY: dlopen/dlclose of a library by name; nothing is called.
    unsafe {
        let h = libc::dlopen(c"libfabric.so.1".as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
        if h.is_null() {
            eprintln!("skipped: libfabric.so.1 is not installed (apt-get install libfabric1)");
            return false;
        }
        libc::dlclose(h);
    }
    true
}

/// A job over ofi with libfabric provider `provider`.
fn ofi(job: Job, provider: &str) -> Job {
    job.env("RMPI_TRANSPORT", "ofi").env("FI_PROVIDER", provider)
}

fn stress(n: usize, provider: &str, messages: u32) {
    let out = ofi(Job::new(n, "stress"), provider)
        .args(["--messages", &messages.to_string(), "--max-size", "4194304", "--seed", "7"])
        .env("RMPI_VERBOSE", "1")
        .timeout(Duration::from_secs(300))
        .run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.starts_with("stress ok")).count();
    assert_eq!(ok, n, "every rank reports success:\n{}", out.stdout);
    let used = out.stderr.lines().filter(|l| l.contains("transport ofi: provider")).count();
    assert_eq!(used, n, "every rank names its provider:\n{}", out.stderr);
}

fn collectives(n: usize, provider: &str) {
    let out = ofi(Job::new(n, "collectives_all"), provider).timeout(Duration::from_secs(180)).run();
    out.assert_ok();
    let ok = out.stdout.lines().filter(|l| l.ends_with("collectives_all ok")).count();
    assert_eq!(ok, n, "n={n} provider={provider}: {}", out.stdout);
}

#[test]
fn stress_over_ofi_tcp() {
    if libfabric_present() {
        stress(4, "tcp", 20_000);
    }
}

#[test]
fn stress_over_ofi_shm() {
    if libfabric_present() {
        stress(2, "shm", 20_000);
    }
}

#[test]
fn every_collective_is_right_over_ofi_tcp() {
    if libfabric_present() {
        for n in [2, 3, 4, 7, 9] {
            collectives(n, "tcp");
        }
    }
}

#[test]
fn every_collective_is_right_over_ofi_shm() {
    if libfabric_present() {
        for n in [2, 3, 4, 7] {
            collectives(n, "shm");
        }
    }
}

#[test]
fn verbose_names_the_provider_and_the_traffic_takes_it() {
    if !libfabric_present() {
        return;
    }
    let out = ofi(Job::new(2, "pingpong"), "tcp")
        .args(["--size", "100000", "--iters", "20"])
        .env("RMPI_VERBOSE", "1")
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_ok();
    for r in 0..2 {
        assert!(
            out.stderr.contains(&format!("rmpi: rank {r}: transport ofi: provider tcp;ofi_rxm")),
            "rank {r} names tcp;ofi_rxm:\n{}",
            out.stderr
        );
    }
    assert!(out.stdout.contains("size=100000"), "{}", out.stdout);
    // 100000 bytes is past the eager limit: rank 1 pulled every one of
    // rank 0's messages with fi_read (tcp;ofi_rxm has FI_RMA).
    let moved = out.stderr.lines().find(|l| l.starts_with("rmpi: rank 1: ofi moved")).expect("rank 1's report");
    let reads: u64 = moved
        .split(", ")
        .find_map(|p| p.strip_suffix(" bytes)").and_then(|p| p.split(" single-copy reads (").next()))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no read count in {moved:?}"));
    assert!(reads >= 20, "rank 1 read every message itself: {moved}");
}

#[test]
fn forcing_an_absent_provider_fails_start_up_with_a_reason() {
    if !libfabric_present() {
        return;
    }
    let out = ofi(Job::new(2, "hello"), "no-such-provider").timeout(Duration::from_secs(60)).run();
    assert!(!out.status.success());
    assert!(out.stderr.contains("RMPI_TRANSPORT=ofi"), "{}", out.stderr);
}

#[test]
fn sigkill_of_one_rank_ends_an_ofi_job() {
    if !libfabric_present() {
        return;
    }
    let m = marker("ofi-sigkill");
    let mut job = ofi(Job::new(4, "blocked_recv"), "tcp")
        .args(["--delay-ms", "60000"])
        .marked(&m)
        .timeout(Duration::from_secs(30))
        .spawn();
    job.wait_for_line("ready", Duration::from_secs(20));
    let victim = pid_of_rank(&m, 2, Duration::from_secs(5));
    let t = Instant::now();
    // SAFETY: killing a rank of our own job.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    let out = job.finish_within(Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(2), "job took {:?} to end", t.elapsed());
    assert_eq!(out.code(), Some(128 + 9), "{}", out.stderr);
    assert!(out.stderr.contains("rank 2") && out.stderr.contains("signal 9"), "{}", out.stderr);
    assert_no_process_left(&m, Duration::from_secs(2));
}

/// Two network namespaces joined by a veth pair; removed on drop.
struct Netns {
    names: [String; 2],
}

const NS_IFACE: &str = "rmpiofi0";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Netns {
    /// Namespaces `<tag>-0` (10.213.7.1) and `<tag>-1` (10.213.7.2), each
    /// with the veth end named [`NS_IFACE`] and loopback up.
    fn create(tag: &str) -> Result<Netns, String> {
        let ns = Netns { names: [format!("{tag}-0"), format!("{tag}-1")] };
        let id = std::process::id() % 100_000;
        let (a, b) = (format!("rmo{id}a"), format!("rmo{id}b"));
        for n in &ns.names {
            ip(&["netns", "add", n])?;
        }
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
        for (i, dev) in [&a, &b].into_iter().enumerate() {
            let n = &ns.names[i];
            ip(&["link", "set", dev, "netns", n])?;
            ip(&["-n", n, "link", "set", dev, "name", NS_IFACE])?;
            ip(&["-n", n, "addr", "add", &format!("10.213.7.{}/24", i + 1), "dev", NS_IFACE])?;
            ip(&["-n", n, "link", "set", NS_IFACE, "up"])?;
            ip(&["-n", n, "link", "set", "lo", "up"])?;
        }
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = ip(&["netns", "delete", n]);
        }
    }
}

/// `rmpirun -n N` of `example` with rank r in namespace r mod 2.
fn netns_job(ns: &Netns, n: usize, example_name: &str, args: &[&str]) -> JobOutput {
    let script = format!(
        "case $((PMI_RANK % 2)) in 0) ns={};; *) ns={};; esac; exec ip netns exec $ns \"$@\"",
        ns.names[0], ns.names[1]
    );
    let mut argv: Vec<String> = vec!["-n".into(), n.to_string(), "sh".into(), "-c".into(), script, "sh".into()];
    argv.push(example(example_name).display().to_string());
    argv.extend(args.iter().map(|s| s.to_string()));
    Job::direct(rmpirun())
        .args(argv)
        .env("RMPI_TRANSPORT", "ofi")
        .env("FI_PROVIDER", "tcp")
        .env("FI_TCP_IFACE", NS_IFACE)
        .env("RMPI_VERBOSE", "1")
        .timeout(Duration::from_secs(300))
        .run()
}

#[test]
fn ofi_between_two_network_namespaces() {
    if !libfabric_present() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating network namespaces needs root");
        return;
    }
    let ns = match Netns::create(&format!("rmpi-ofi-{}", std::process::id())) {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("skipped: cannot create network namespaces ({e})");
            return;
        }
    };
    let out = netns_job(&ns, 4, "stress", &["--messages", "8000", "--max-size", "4194304", "--seed", "11"]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("stress ok")).count(), 4, "{}", out.stdout);
    // Each rank's endpoint sits on its namespace's veth address.
    for r in 0..4 {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("rmpi: rank {r}: transport ofi:")))
            .unwrap_or_else(|| panic!("rank {r} names its provider:\n{}", out.stderr));
        assert!(line.contains("fabric 10.213.7.0/24") && line.contains(NS_IFACE), "{line}");
    }
    let out = netns_job(&ns, 4, "collectives_all", &[]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().filter(|l| l.ends_with("collectives_all ok")).count(), 4, "{}", out.stdout);
}
