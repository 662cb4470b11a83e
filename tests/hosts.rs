//! rmpirun across hosts, with network namespaces as the hosts.
//!
//! Each test makes its own little cluster (`tests/netns/cluster.sh`): N
//! network namespaces on a private bridge, 10.79.X.(10+I) each, this host
//! 10.79.X.1. Proxies are started by the namespace agent
//! (`tests/netns/agent HOST "cmd"`, which also gives the namespace its own
//! host name) or by real ssh to an sshd inside a namespace. The tests check
//! the programs' results, processor names (one per namespace), that ranks
//! of different hosts talk over TCP and ranks of one host over shared
//! memory, failure handling across hosts (message naming rank and host,
//! end within 2 s, no process left in any namespace), and interruption.
//!
//! They need root and `ip netns`; elsewhere they pass after printing why
//! they did not run.

mod common;
use common::*;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const END_WITHIN: Duration = Duration::from_secs(2);

fn netns_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("netns")
}

fn agent() -> String {
    netns_dir().join("agent").to_string_lossy().into_owned()
}

/// Why these tests cannot run here, if they cannot.
fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    let ok = Command::new("ip").args(["netns", "list"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !ok.is_ok_and(|s| s.success()) {
        return Some("`ip netns` is not available".into());
    }
    let unshare = Command::new("unshare").arg("--version").stdout(Stdio::null()).status();
    if !unshare.is_ok_and(|s| s.success()) {
        return Some("`unshare` is not available".into());
    }
    let probe = format!("rhprobe{}", std::process::id() % 100_000);
    for kind in ["bridge", "veth"] {
        let made = Command::new("ip")
            .args(["link", "add", &probe, "type", kind])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !made.is_ok_and(|s| s.success()) {
            return Some(format!("cannot create a {kind} interface"));
        }
        let _ = Command::new("ip").args(["link", "del", &probe]).stderr(Stdio::null()).status();
    }
    None
}

macro_rules! require_netns {
    () => {
        if let Some(why) = unsupported() {
            eprintln!("skipped: multi-host tests need root and network namespaces ({why})");
            return;
        }
    };
}

static CLUSTERS: AtomicUsize = AtomicUsize::new(0);

/// N namespaces on a bridge; removed (with anything left in them) on drop.
struct Cluster {
    prefix: String,
    subnet: String,
    n: usize,
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        remove_stale_clusters();
        let k = CLUSTERS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() as usize;
        let prefix = format!("rh{pid}{}", (b'a' + (k % 26) as u8) as char);
        let subnet = format!("10.79.{}", (pid * 7 + k) % 250 + 1);
        let c = Cluster { prefix, subnet, n };
        // A leftover of an earlier run with the same name would make `up` fail.
        c.down();
        let st = Command::new(netns_dir().join("cluster.sh"))
            .args(["up", &c.prefix, &c.subnet, &n.to_string()])
            .status()
            .expect("run cluster.sh");
        assert!(st.success(), "cluster.sh up {} failed", c.prefix);
        c
    }

    fn down(&self) {
        let _ = Command::new(netns_dir().join("cluster.sh"))
            .args(["down", &self.prefix, &self.n.to_string()])
            .stderr(Stdio::null())
            .status();
    }

    /// Host (namespace) name of node `i` (1-based).
    fn host(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    /// `-hosts` value for nodes 1..=n.
    fn hosts(&self) -> String {
        (1..=self.n).map(|i| self.host(i)).collect::<Vec<_>>().join(",")
    }

    fn addr(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    /// Pids running in the namespace of node `i`.
    fn pids(&self, i: usize) -> Vec<i32> {
        let out = Command::new("ip").args(["netns", "pids", &self.host(i)]).output().expect("ip netns pids");
        String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect()
    }

    /// Waits until no process runs in any of the namespaces.
    fn assert_empty(&self, within: Duration) {
        let start = Instant::now();
        loop {
            let left: Vec<(String, Vec<i32>)> =
                (1..=self.n).map(|i| (self.host(i), self.pids(i))).filter(|(_, p)| !p.is_empty()).collect();
            if left.is_empty() {
                return;
            }
            assert!(start.elapsed() < within, "processes left on the hosts after {within:?}: {left:?}");
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.down();
    }
}

/// Removes clusters of test processes that no longer exist.
fn remove_stale_clusters() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("rh") else { continue };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(pid) = digits.parse::<u32>() else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let letter_end = 2 + digits.len() + 1;
        if name.len() > letter_end {
            let prefix = &name[..letter_end];
            let _ =
                Command::new(netns_dir().join("cluster.sh")).args(["down", prefix, "9"]).stderr(Stdio::null()).status();
        }
    }
}

/// `rmpirun ARGS... EXAMPLE PROGRAM_ARGS...` with a marker.
fn rmpirun(args: &[&str], program: &str, program_args: &[&str], marker: &str) -> Job {
    rmpirun_cmd(args, example(program), program_args, marker)
}

/// `rmpirun ARGS... PROGRAM PROGRAM_ARGS...` with a marker.
fn rmpirun_cmd(args: &[&str], program: PathBuf, program_args: &[&str], marker: &str) -> Job {
    Job::direct(common::rmpirun())
        .args(args)
        .args([program])
        .args(program_args)
        .marked(marker)
        .timeout(Duration::from_secs(90))
}

/// `[R] text` lines of a tagged job, as (rank, text).
/// Two ranks on each of `c`'s hosts blocked in a receive for a minute, once
/// one has said "ready".
fn blocked_job(c: &Cluster, marker: &str) -> RunningJob {
    let hosts = c.hosts();
    let mut job = rmpirun(
        &["-hosts", &hosts, "-ppn", "2", "--launcher-exec", &agent()],
        "blocked_recv",
        &["--delay-ms", "60000"],
        marker,
    )
    .spawn();
    job.wait_for_line("ready", Duration::from_secs(60));
    job
}

fn tagged(out: &JobOutput) -> Vec<(u32, String)> {
    out.stdout
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix('[')?;
            let (r, text) = rest.split_once("] ")?;
            Some((r.parse().ok()?, text.to_string()))
        })
        .collect()
}

/// Host of each rank, from `hello`'s lines.
fn hosts_of_ranks(out: &JobOutput, np: usize) -> Vec<String> {
    let mut hosts = vec![String::new(); np];
    for line in out.stdout.lines() {
        // Hello, World! I am process R of N on HOST.
        let Some(rest) = line.strip_prefix("Hello, World! I am process ") else { continue };
        let mut w = rest.split_whitespace();
        let r: usize = w.next().and_then(|x| x.parse().ok()).expect("rank");
        let host = rest.rsplit(" on ").next().expect("host").trim_end_matches('.');
        hosts[r] = host.to_string();
    }
    assert!(hosts.iter().all(|h| !h.is_empty()), "a rank did not say hello:\n{}", out.stdout);
    hosts
}

/// Per rank and transport: (bytes_sent, bytes_received) from `counters`.
fn counters(out: &JobOutput) -> Vec<(u32, String, u64, u64)> {
    let mut v = Vec::new();
    for line in out.stdout.lines() {
        // rank R: NAME packets_sent=.. bytes_sent=.. packets_received=.. bytes_received=..
        let Some(rest) = line.strip_prefix("rank ") else { continue };
        let (r, rest) = rest.split_once(": ").expect("rank: ...");
        let mut w = rest.split_whitespace();
        let name = w.next().expect("transport").to_string();
        let field = |k: &str| -> u64 {
            rest.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k).and_then(|x| x.strip_prefix('=')))
                .and_then(|x| x.parse().ok())
                .unwrap_or(0)
        };
        v.push((r.parse().expect("rank"), name, field("bytes_sent"), field("bytes_received")));
    }
    v
}

fn bytes_sent(c: &[(u32, String, u64, u64)], rank: u32, transport: &str) -> u64 {
    c.iter().filter(|x| x.0 == rank && x.1 == transport).map(|x| x.2).sum()
}

#[test]
fn three_hosts_two_ranks_each_through_the_agent() {
    require_netns!();
    let c = Cluster::new(3);
    let hosts = c.hosts();
    let m = marker("hosts3");
    let base = ["-hosts", hosts.as_str(), "-ppn", "2", "--launcher-exec", &agent()];

    let out = rmpirun(&base, "hello", &[], &m).run();
    out.assert_ok();
    let h = hosts_of_ranks(&out, 6);
    let want: Vec<String> = [1, 1, 2, 2, 3, 3].iter().map(|&i| c.host(i)).collect();
    assert_eq!(h, want, "block placement, two ranks per host, processor names are the hosts'");

    let mut args = base.to_vec();
    args.push("-l");
    let out = rmpirun(&args, "bcast", &[], &m).run();
    out.assert_ok();
    let mut ok: Vec<u32> =
        tagged(&out).into_iter().filter(|(r, t)| *t == format!("rank {r}: bcast ok")).map(|x| x.0).collect();
    ok.sort();
    assert_eq!(ok, vec![0, 1, 2, 3, 4, 5], "{}", out.stdout);

    let out = rmpirun(&args, "psum", &[], &m).run();
    out.assert_ok();
    let sums = tagged(&out).into_iter().filter(|(r, t)| *t == format!("rank {r}: sum = 120")).count();
    assert_eq!(sums, 6, "{}", out.stdout);

    // Each rank sends 4 KiB to the next: 0→1, 2→3, 4→5 stay on a host
    // (shared memory), 1→2, 3→4, 5→0 cross hosts (TCP).
    let out = rmpirun(&base, "counters", &[], &m).run();
    out.assert_ok();
    let cs = counters(&out);
    for r in [0u32, 2, 4] {
        assert!(bytes_sent(&cs, r, "shm") >= 4096, "rank {r} → {} over shm:\n{}", r + 1, out.stdout);
        assert!(bytes_sent(&cs, r, "tcp") < 4096, "rank {r} sent its 4 KiB over tcp:\n{}", out.stdout);
    }
    for r in [1u32, 3, 5] {
        assert!(bytes_sent(&cs, r, "tcp") >= 4096, "rank {r} → next host over tcp:\n{}", out.stdout);
        assert!(bytes_sent(&cs, r, "shm") < 4096, "rank {r} sent across hosts over shm:\n{}", out.stdout);
    }
    // Point-to-point under load, most pairs across hosts.
    let out = rmpirun(&base, "stress", &["--messages", "20000", "--max-size", "1048576", "--seed", "7"], &m).run();
    out.assert_ok();
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("stress ok")).count(), 6, "{}", out.stdout);
    assert_no_process_left(&m, END_WITHIN);
    c.assert_empty(END_WITHIN);
}

#[test]
fn hostfile_with_slots_and_a_chain_of_proxies() {
    require_netns!();
    let c = Cluster::new(3);
    let dir = std::env::temp_dir().join(format!("rmpi-hostfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let hf = dir.join("hosts");
    std::fs::write(&hf, format!("# test cluster\n{}:1\n\n{}:3   # three slots\n{}\n", c.host(1), c.host(2), c.host(3)))
        .expect("write hostfile");
    let m = marker("hostfile");
    let hfs = hf.to_string_lossy().into_owned();
    // Fan-out 1: node 2 joins through node 1, node 3 through node 2, so the
    // fence, output and exits are relayed through proxies.
    let args = ["-hostfile", hfs.as_str(), "-n", "6", "--launcher-exec", &agent()];
    let out = rmpirun(&args, "hello", &[], &m).env("RMPI_TREE_FANOUT", "1").run();
    out.assert_ok();
    // One round: 1 + 3 + 1 slots, then the second round starts at host 1.
    let want: Vec<String> = [1, 2, 2, 2, 3, 1].iter().map(|&i| c.host(i)).collect();
    assert_eq!(hosts_of_ranks(&out, 6), want);
    let out = rmpirun(&args, "psum", &[], &m).env("RMPI_TREE_FANOUT", "1").run();
    out.assert_ok();
    assert_eq!(out.stdout.lines().filter(|l| l.ends_with("sum = 120")).count(), 6, "{}", out.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    c.assert_empty(END_WITHIN);
}

#[test]
fn this_host_and_a_namespace_host() {
    require_netns!();
    let c = Cluster::new(1);
    let m = marker("mixed");
    let hosts = format!("localhost,{}", c.host(1));
    let out = rmpirun(&["-hosts", &hosts, "-ppn", "2", "--launcher-exec", &agent()], "counters", &[], &m).run();
    out.assert_ok();
    let cs = counters(&out);
    assert!(bytes_sent(&cs, 1, "tcp") >= 4096, "rank 1 (here) → rank 2 (namespace) over tcp:\n{}", out.stdout);
    assert!(bytes_sent(&cs, 0, "shm") >= 4096, "rank 0 → rank 1 on this host over shm:\n{}", out.stdout);
    assert_no_process_left(&m, END_WITHIN);
}

#[test]
fn killed_rank_on_a_remote_host_ends_the_job() {
    require_netns!();
    let c = Cluster::new(3);
    let m = marker("remotekill");
    let job = blocked_job(&c, &m);
    // Rank 5 runs on host 3.
    let victim = pid_of_rank(&m, 5, Duration::from_secs(5));
    assert!(c.pids(3).contains(&victim), "rank 5 (pid {victim}) is not in {}", c.host(3));
    let t0 = Instant::now();
    // SAFETY: kill(2) of a rank of this test's job.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    let out = job.finish_within(Duration::from_secs(10));
    let took = t0.elapsed();
    assert_eq!(out.code(), Some(137), "exit code 128+9\n{}", out.stderr);
    assert!(took < END_WITHIN, "job took {took:?} to end");
    let want = format!("rank 5 on {}", c.host(3));
    assert!(
        out.stderr.contains(&want) && out.stderr.contains("signal 9"),
        "message names rank and host: {}",
        out.stderr
    );
    assert_no_process_left(&m, END_WITHIN);
    c.assert_empty(END_WITHIN);
}

#[test]
fn sigint_to_rmpirun_ends_every_host() {
    require_netns!();
    let c = Cluster::new(2);
    let m = marker("hostsint");
    let job = blocked_job(&c, &m);
    let t0 = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(job.pid(), libc::SIGINT) };
    let out = job.finish_within(Duration::from_secs(10));
    assert_eq!(out.code(), Some(130), "{}", out.stderr);
    assert!(t0.elapsed() < END_WITHIN, "took {:?}", t0.elapsed());
    assert_no_process_left(&m, END_WITHIN);
    c.assert_empty(END_WITHIN);
}

#[test]
fn a_host_that_cannot_be_reached_is_named() {
    require_netns!();
    let m = marker("nohost");
    let t0 = Instant::now();
    // The agent fails for a namespace that does not exist.
    let out = rmpirun(&["-hosts", "rmpi-no-such-host", "-n", "2", "--launcher-exec", &agent()], "hello", &[], &m).run();
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("cannot start the node proxy on rmpi-no-such-host"), "{}", out.stderr);
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_no_process_left(&m, END_WITHIN);
}

/// An sshd inside a namespace, with keys made for the test; stopped on drop.
struct Sshd {
    child: Child,
    dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sshd_binary() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/sbin/sshd");
    if p.exists() && Path::new("/usr/bin/ssh").exists() && Path::new("/usr/bin/ssh-keygen").exists() {
        return Some(p);
    }
    // As root on Debian, install it (CI's .ci/run does this too).
    let st = Command::new("apt-get")
        .args(["install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", "openssh-server", "openssh-client"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status();
    (st.is_ok_and(|s| s.success()) && p.exists()).then_some(p)
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
}

/// Starts sshd on node `i` of `c`; returns it and an ssh_config for it.
fn start_sshd(c: &Cluster, i: usize, dir: &Path, sshd: &Path) -> Sshd {
    let d = dir.join(format!("sshd{i}"));
    std::fs::create_dir_all(&d).expect("sshd dir");
    keygen(&d.join("hostkey"));
    std::fs::create_dir_all("/run/sshd").expect("/run/sshd (privilege separation)");
    let cfg = d.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "ListenAddress {addr}\nPort 22\nHostKey {d}/hostkey\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nPidFile {d}/sshd.pid\n",
            addr = c.addr(i),
            d = d.display(),
            dir = dir.display()
        ),
    )
    .expect("sshd_config");
    let child = Command::new("ip")
        .args(["netns", "exec", &c.host(i), "unshare", "--uts", "sh", "-c"])
        .arg(format!("hostname {} && exec {} -D -e -f {}", c.host(i), sshd.display(), cfg.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd");
    let s = Sshd { child, dir: d };
    // Wait until it accepts connections.
    let addr: std::net::SocketAddr = format!("{}:22", c.addr(i)).parse().expect("addr");
    let start = Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(15), "sshd on {} did not start listening", c.host(i));
        std::thread::park_timeout(Duration::from_millis(20));
    }
    s
}

#[test]
fn real_ssh_to_two_hosts() {
    require_netns!();
    let Some(sshd) = sshd_binary() else {
        panic!("sshd is not installed and could not be installed (apt-get install openssh-server)");
    };
    let c = Cluster::new(2);
    let dir = std::env::temp_dir().join(format!("rmpi-ssh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    keygen(&dir.join("userkey"));
    std::fs::copy(dir.join("userkey.pub"), dir.join("authorized_keys")).expect("authorized_keys");
    let ssh_config = dir.join("ssh_config");
    std::fs::write(
        &ssh_config,
        format!(
            "Host *\n  User root\n  IdentityFile {}/userkey\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  \
             BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 10\n",
            dir.display()
        ),
    )
    .expect("ssh_config");
    let _d1 = start_sshd(&c, 1, &dir, &sshd);
    let _d2 = start_sshd(&c, 2, &dir, &sshd);
    let agent = format!("ssh -F {}", ssh_config.display());
    // Hosts by address: ssh reaches the namespaces' sshd over the bridge.
    let hosts = format!("{},{}", c.addr(1), c.addr(2));
    let m = marker("ssh");
    let out = rmpirun(&["-hosts", &hosts, "-ppn", "2", "--launcher-exec", &agent], "hello", &[], &m).run();
    out.assert_ok();
    let want: Vec<String> = [1, 1, 2, 2].iter().map(|&i| c.host(i)).collect();
    assert_eq!(hosts_of_ranks(&out, 4), want);
    let out = rmpirun(&["-hosts", &hosts, "-ppn", "2", "--launcher-exec", &agent, "-l"], "psum", &[], &m).run();
    out.assert_ok();
    assert_eq!(tagged(&out).iter().filter(|(r, t)| *t == format!("rank {r}: sum = 120")).count(), 4, "{}", out.stdout);
    // The login environment is not rmpirun's: what rmpirun exports, and
    // -genv with a value that would need quoting in a shell, reach the ranks.
    let words = "a 'b' \"c\" $d;x";
    let out = rmpirun_cmd(
        &["-hosts", &hosts, "-ppn", "2", "--launcher-exec", &agent, "-genv", "RMPI_TEST_WORDS", words],
        PathBuf::from("/bin/sh"),
        &["-c", "printf '%s|%s|%s\\n' \"$RMPI_TEST_WORDS\" \"$RMPITEST_MARKER\" \"$(pwd)\""],
        &m,
    )
    .run();
    out.assert_ok();
    let cwd = std::env::current_dir().expect("cwd");
    let want = format!("{words}|{m}|{}", cwd.display());
    assert_eq!(out.stdout.lines().filter(|l| *l == want).count(), 4, "want 4 × {want:?}:\n{}", out.stdout);
    assert_no_process_left(&m, END_WITHIN);
    let _ = std::fs::remove_file(dir.join("userkey"));
}

#[test]
fn stdin_reaches_rank_zero_on_a_remote_host() {
    require_netns!();
    use std::io::{Read, Write};
    let c = Cluster::new(2);
    let hosts = c.hosts();
    let m = marker("stdin");
    let mut child = Command::new(common::rmpirun())
        .args(["-hosts", &hosts, "-ppn", "1", "--launcher-exec", &agent(), "-l", "/bin/sh", "-c"])
        .arg(r#"if [ "$PMI_RANK" = 0 ]; then echo "got $(wc -l) lines on $(hostname)"; else cat; echo "rank 1 stdin closed"; fi"#)
        .env("RMPITEST_MARKER", &m)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start rmpirun");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for i in 0..1000 {
            writeln!(stdin, "line {i}").expect("write stdin");
        }
    } // closed: end of input
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            // SAFETY: killing our own child's process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            panic!("job did not end");
        }
        std::thread::park_timeout(Duration::from_millis(5));
    }
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    assert!(child.wait().expect("wait").success(), "{out}\n{err}");
    assert!(out.contains(&format!("[0] got 1000 lines on {}", c.host(1))), "{out}\n{err}");
    assert!(out.contains("[1] rank 1 stdin closed"), "{out}");
    assert_no_process_left(&m, END_WITHIN);
}

#[test]
fn killing_rmpirun_takes_every_host_down() {
    require_netns!();
    let c = Cluster::new(2);
    let m = marker("hostskill");
    let job = blocked_job(&c, &m);
    // SAFETY: killing our own child (rmpirun only, not its group).
    unsafe { libc::kill(job.pid(), libc::SIGKILL) };
    let out = job.finish_within(Duration::from_secs(10));
    assert_eq!(out.status.code(), None, "rmpirun was killed");
    // The proxies see rmpirun's connection drop and kill their ranks.
    assert_no_process_left(&m, END_WITHIN);
    c.assert_empty(END_WITHIN);
}

#[test]
fn sigusr1_reaches_ranks_on_every_host() {
    require_netns!();
    let c = Cluster::new(1);
    // Ranks 0 and 1 run under rmpirun itself, 2 and 3 under a proxy.
    let hosts = format!("localhost,{}", c.host(1));
    let here = String::from_utf8(Command::new("hostname").output().expect("hostname").stdout).expect("utf-8");
    let here = here.trim().to_string();
    let m = marker("usr1");
    let mut job = rmpirun_cmd(
        &["-hosts", &hosts, "-ppn", "2", "--launcher-exec", &agent(), "-l"],
        PathBuf::from("/bin/sh"),
        &["-c", r#"trap 'echo "got USR1 on $(hostname)"; exit 0' USR1; echo ready; while :; do sleep 0.05; done"#],
        &m,
    )
    .spawn();
    for _ in 0..4 {
        job.wait_for_line("ready", Duration::from_secs(30));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(job.pid(), libc::SIGUSR1) };
    let out = job.finish_within(Duration::from_secs(10));
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    for (r, host) in [(0, &here), (1, &here), (2, &c.host(1)), (3, &c.host(1))] {
        let want = format!("[{r}] got USR1 on {host}");
        assert_eq!(out.stdout.matches(&want).count(), 1, "{want:?} once:\n{}", out.stdout);
    }
    assert_no_process_left(&m, END_WITHIN);
}
