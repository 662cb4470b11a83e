//! Behaviour of the ofi transport beyond the shared conformance suite:
//! single-copy reads of an exposed buffer, cards of another provider, an
//! unreachable peer, and packets of another job. Skipped (with a message)
//! when libfabric is not installed.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rmpi_transports::ofi::{OfiConfig, OfiTransport};
use rmpi_transports::{Transport, TransportError};

fn open(rank: u32, provider: &str, secret: &[u8]) -> OfiTransport {
    OfiTransport::open(OfiConfig {
        rank,
        secret: secret.to_vec(),
        fabric_only: false,
        provider: Some(provider.into()),
        loopback: true,
    })
    .unwrap()
}

#[test]
fn a_read_pulls_the_exposed_buffer() {
    let Some(mut g) = ofi_group_raw(2, "tcp") else { return };
    let (a, b) = g.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut b[0]);
    assert!(a.rma_read_capable() && b.rma_read_capable(), "tcp;ofi_rxm reads remote memory");
    let src: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let (addr, key) = a.expose(1, 42, src.as_ptr() as u64, src.len() as u64).unwrap();
    assert_eq!(a.expose(1, 42, src.as_ptr() as u64, src.len() as u64).unwrap(), (addr, key), "idempotent");
    let mut dst = vec![0u8; src.len()];
    // SAFETY: dst stays alive and untouched until the read is reported.
    unsafe { b.read(0, dst.as_mut_ptr(), dst.len(), addr, key, 7) };
    let mut done = Vec::new();
    until("the read", || {
        // The target's progress serves the read (manual progress).
        a.poll(&mut |_, _| panic!("no packets")).unwrap();
        b.poll(&mut |_, _| panic!("no packets")).unwrap();
        done.extend(b.take_reads_done());
        !done.is_empty()
    });
    assert_eq!(done, vec![(7, true)]);
    assert!(dst == src, "bytes read");
    assert_eq!(b.reads_completed(), (1, src.len() as u64));
    a.unexpose(1, 42);
}

#[test]
fn a_card_of_another_provider_is_refused() {
    let Some(mut g) = ofi_group_raw(1, "tcp") else { return };
    let other = open(1, "sockets", SECRET);
    let err = g[0].add_peer(1, &other.card()).unwrap_err();
    assert!(matches!(err, TransportError::BadCard(_)), "{err}");
    assert!(!g[0].has_peer(1));
}

#[test]
fn an_unreachable_peer_is_reported_not_waited_for() {
    let Some(mut g) = ofi_group_raw(1, "tcp") else { return };
    let gone = open(1, "tcp", SECRET);
    let card = gone.card();
    drop(gone);
    let a = &mut g[0];
    a.set_connect_timeout(Some(Duration::from_millis(500)));
    a.add_peer(1, &card).unwrap();
    let big = vec![1u8; 10_000];
    a.try_send(1, &[&big]).unwrap();
    let start = Instant::now();
    let err = loop {
        match a.poll(&mut |_, _| panic!("no packets")) {
            Ok(_) => assert!(start.elapsed() < DEADLINE, "never reported"),
            Err(e) => break e,
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(err.to_string().contains("rank 1 has not answered"), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(500));
}

#[test]
fn packets_of_another_job_are_dropped() {
    let Some(mut g) = ofi_group_raw(1, "tcp") else { return };
    let mut intruder = open(1, "tcp", b"another job's secret");
    intruder.add_peer(0, &g[0].card()).unwrap();
    intruder.try_send(0, &[b"let me in"]).unwrap();
    until("the packet to arrive and be dropped", || {
        intruder.poll(&mut |_, _| {}).unwrap();
        g[0].poll(&mut |src, p| panic!("delivered {p:?} from {src}")).unwrap();
        g[0].rejected_packets() == 1
    });
}
