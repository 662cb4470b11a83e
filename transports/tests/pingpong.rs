//! Rough latency and bandwidth figures (ignored by default; run with
//! `cargo test -p rmpi-transports --test pingpong -- --ignored --nocapture`).
//! They assert only that every byte arrives.

mod common;

use std::thread;
use std::time::Instant;

use common::*;
use rmpi_transports::{Transport, TransportError};

/// Two threads bounce a packet of `len` bytes `iters` times; returns the
/// one-way latency in microseconds.
fn pingpong(group: Group, len: usize, iters: u32) -> f64 {
    let mut g = group.into_iter();
    let (mut a, mut b) = (g.next().unwrap(), g.next().unwrap());
    let echo = thread::spawn(move || {
        let mut buf = Vec::new();
        for _ in 0..iters + 1 {
            buf.clear();
            while buf.is_empty() && b.poll(&mut |_, p| buf.push(p.to_vec())).unwrap() == 0 {}
            while let Err(TransportError::WouldBlock) = b.try_send(0, &[&buf[0]]) {
                b.poll(&mut |_, _| {}).unwrap();
            }
        }
        while b.prepare_sleep_pending() {}
        b
    });
    let msg = vec![5u8; len];
    let round = |a: &mut Box<dyn Transport>| {
        a.try_send(1, &[&msg]).unwrap();
        let mut got = 0;
        while got == 0 {
            got = a.poll(&mut |_, p| assert_eq!(p.len(), len)).unwrap();
        }
    };
    round(&mut a); // warm-up (connects lazy transports)
    let t0 = Instant::now();
    for _ in 0..iters {
        round(&mut a);
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / iters as f64 / 2.0;
    echo.join().unwrap();
    us
}

/// Helper so the echo side flushes before it is dropped.
trait Flush {
    fn prepare_sleep_pending(&mut self) -> bool;
}

impl Flush for Box<dyn Transport> {
    fn prepare_sleep_pending(&mut self) -> bool {
        self.poll(&mut |_, _| {}).unwrap();
        let busy = !self.prepare_sleep();
        self.end_sleep();
        busy
    }
}

/// One-way streaming bandwidth in MB/s with `len`-byte packets.
fn bandwidth(group: Group, len: usize, total: usize) -> f64 {
    let mut g = group.into_iter();
    let (mut a, mut b) = (g.next().unwrap(), g.next().unwrap());
    let n = total / len;
    let rx = thread::spawn(move || {
        let mut got = 0;
        while got < n {
            got += b.poll(&mut |_, p| assert_eq!(p.len(), len)).unwrap();
        }
        b
    });
    let msg = vec![9u8; len];
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < n {
        match a.try_send(1, &[&msg]) {
            Ok(()) => sent += 1,
            Err(TransportError::WouldBlock) => {
                a.poll(&mut |_, _| {}).unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
    while a.prepare_sleep_pending() {}
    let _b = rx.join().unwrap();
    (n * len) as f64 / t0.elapsed().as_secs_f64() / 1e6
}

#[test]
#[ignore = "a timing benchmark, not a test: run with --ignored --nocapture"]
fn report_latency_and_bandwidth() {
    for (name, make) in [("shm", shm_group as fn(usize) -> Group), ("tcp", tcp_group)] {
        for len in [0usize, 64, 4096] {
            println!("{name}: {len:>6} B one-way latency {:.2} us", pingpong(make(2), len, 20_000));
        }
        for len in [4096usize, 16 * 1024] {
            println!("{name}: {len:>6} B packets, streaming {:.0} MB/s", bandwidth(make(2), len, 512 << 20));
        }
    }
}
