//! A TCP connection to a rank that does not prove the job's secret is
//! closed, and the job goes on and completes normally.

mod common;
use common::*;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Ports on which process `pid` listens (IPv4), from /proc.
fn listening_ports(pid: i32) -> Vec<u16> {
    let mut inodes = HashSet::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(t) = std::fs::read_link(e.path()) {
                let t = t.to_string_lossy().into_owned();
                if let Some(i) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    inodes.insert(i.to_string());
                }
            }
        }
    }
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let mut ports = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
            if let Some(p) = f[1].split(':').nth(1).and_then(|h| u16::from_str_radix(h, 16).ok()) {
                ports.push(p);
            }
        }
    }
    ports
}

#[test]
fn connection_without_the_job_secret_is_closed_and_the_job_completes() {
    let m = marker("tcp-secret");
    let mut job = Job::new(2, "blocked_recv")
        .args(["--delay-ms", "3000"])
        .tcp()
        .marked(&m)
        .timeout(Duration::from_secs(60))
        .spawn();
    job.wait_for_line("ready", Duration::from_secs(20));
    let pid = pid_of_rank(&m, 0, Duration::from_secs(5));
    let start = Instant::now();
    let ports = loop {
        let p = listening_ports(pid);
        if !p.is_empty() {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "rank 0 listens on no TCP port");
        std::thread::park_timeout(Duration::from_millis(10));
    };
    for port in ports {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to rank 0");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Whatever the rank says first, answer with garbage instead of a proof.
        let _ = s.write_all(&[0x5a; 256]);
        let mut buf = [0u8; 4096];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(closed, "rank 0 kept a connection that did not prove the secret (port {port})");
    }
    let out = job.finish();
    out.assert_ok();
    assert!(out.stdout.contains("cpu_seconds="), "job completed normally: {}", out.stdout);
}
