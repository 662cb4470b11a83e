//! TCP specifics: the secret handshake rejects impostors and junk while the
//! job goes on, slow handshakes time out, broken and closed connections.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use rmpi_transports::tcp::{TcpConfig, TcpTransport};
use rmpi_transports::{Rank, Transport, TransportError};

fn poll_collect(t: &mut TcpTransport, got: &mut Vec<(Rank, Vec<u8>)>) {
    t.poll(&mut |src, p| got.push((src, p.to_vec()))).unwrap();
}

#[test]
fn card_lists_loopback_port_and_plain_characters() {
    let g = tcp_group_raw(1);
    let card = g[0].card();
    assert_eq!(card, format!("tcp1,{},127.0.0.1", g[0].port()));
    let t = TcpTransport::bind(TcpConfig { rank: 0, job: "j".into(), secret: vec![], loopback_only: false }).unwrap();
    let card = t.card();
    assert!(card.starts_with(&format!("tcp1,{},127.0.0.1", t.port())), "{card}");
    assert!(card.len() <= 200 && card.is_ascii() && !card.contains([';', ' ', '\n', '=']), "{card}");
    assert_eq!(t.caps().max_packet, rmpi_transports::tcp::DEFAULT_MAX_PACKET);
    assert!(!t.caps().single_copy);
}

#[test]
fn bad_cards_are_refused() {
    let mut g = tcp_group_raw(1);
    for bad in ["", "shm1,rmpi-x-1,2", "tcp1,65536,127.0.0.1", "tcp1,80"] {
        assert!(matches!(g[0].add_peer(1, bad, true), Err(TransportError::BadCard(_))), "{bad}");
    }
}

#[test]
fn wrong_secret_is_rejected_and_good_peers_keep_working() {
    let mut g = tcp_group_raw(3);
    // An impostor claiming rank 1 with another job and a guessed secret.
    let mut impostor =
        TcpTransport::bind(TcpConfig { rank: 1, job: "wrong".into(), secret: b"guess".to_vec(), loopback_only: true })
            .unwrap();
    impostor.add_peer(0, &g[0].card(), true).unwrap();
    impostor.try_send(0, &[b"evil"]).unwrap();
    let mut got = Vec::new();
    until("the impostor to be rejected", || {
        let _ = impostor.poll(&mut |_, _| {});
        poll_collect(&mut g[0], &mut got);
        g[0].rejected_connections() >= 1
    });
    assert!(got.is_empty(), "delivered from an unauthenticated connection: {got:?}");

    // The real ranks 1 and 2 still get through.
    g[1].try_send(0, &[b"from 1"]).unwrap();
    g[2].try_send(0, &[b"from 2"]).unwrap();
    until("good peers' packets", || {
        for t in &mut g[1..] {
            t.poll(&mut |_, _| {}).unwrap();
        }
        poll_collect(&mut g[0], &mut got);
        got.len() == 2
    });
    got.sort();
    assert_eq!(got, vec![(1, b"from 1".to_vec()), (2, b"from 2".to_vec())]);
    assert!(g[0].rejected_connections() >= 1);
}

#[test]
fn same_job_wrong_secret_is_rejected() {
    // Build a pair by hand so the impostor shares the job id.
    let job = unique_job("secret");
    let mut rx =
        TcpTransport::bind(TcpConfig { rank: 0, job: job.clone(), secret: b"right".to_vec(), loopback_only: true })
            .unwrap();
    let mut bad =
        TcpTransport::bind(TcpConfig { rank: 1, job: job.clone(), secret: b"wrong".to_vec(), loopback_only: true })
            .unwrap();
    let mut good =
        TcpTransport::bind(TcpConfig { rank: 1, job: job.clone(), secret: b"right".to_vec(), loopback_only: true })
            .unwrap();
    bad.add_peer(0, &rx.card(), true).unwrap();
    good.add_peer(0, &rx.card(), true).unwrap();
    bad.try_send(0, &[b"evil"]).unwrap();
    let mut got = Vec::new();
    until("the wrong secret to be rejected", || {
        let _ = bad.poll(&mut |_, _| {});
        poll_collect(&mut rx, &mut got);
        rx.rejected_connections() >= 1
    });
    good.try_send(0, &[b"good"]).unwrap();
    until("the good packet", || {
        good.poll(&mut |_, _| {}).unwrap();
        poll_collect(&mut rx, &mut got);
        !got.is_empty()
    });
    assert_eq!(got, vec![(1, b"good".to_vec())]);
    // The impostor's connection is closed and its retries fail too: it
    // ends with PeerGone, and nothing of it was ever delivered.
    let start = Instant::now();
    loop {
        poll_collect(&mut rx, &mut got);
        match bad.try_send(0, &[&[0u8; 4096]]).and_then(|()| bad.poll(&mut |_, _| {})) {
            Err(TransportError::PeerGone { peer: 0, .. }) => break,
            Ok(_) | Err(TransportError::WouldBlock) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(start.elapsed() < DEADLINE, "impostor never saw its connection fail");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(got, vec![(1, b"good".to_vec())]);
    assert!(rx.rejected_connections() >= 2);
}

#[test]
fn junk_and_silent_connections_are_dropped() {
    let mut g = tcp_group_raw(2);
    g[0].set_handshake_timeout(Duration::from_millis(200));
    let port = g[0].port();
    let mut junk = TcpStream::connect(("127.0.0.1", port)).unwrap();
    junk.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let _silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut got = Vec::new();
    until("junk and silent connections to be dropped", || {
        poll_collect(&mut g[0], &mut got);
        g[0].rejected_connections() == 2
    });
    assert!(got.is_empty());
    g[1].try_send(0, &[b"still fine"]).unwrap();
    until("a good packet", || {
        g[1].poll(&mut |_, _| {}).unwrap();
        poll_collect(&mut g[0], &mut got);
        !got.is_empty()
    });
    assert_eq!(got, vec![(1, b"still fine".to_vec())]);
}

#[test]
fn sender_sees_peer_gone_when_the_receiver_disappears() {
    let mut g = tcp_group_raw(2);
    let mut got = Vec::new();
    g[1].try_send(0, &[b"hi"]).unwrap();
    until("first packet", || {
        g[1].poll(&mut |_, _| {}).unwrap();
        poll_collect(&mut g[0], &mut got);
        !got.is_empty()
    });
    let mut sender = g.pop().unwrap();
    drop(g); // rank 0 goes away
    let start = Instant::now();
    loop {
        match sender.try_send(0, &[&[1u8; 1024]]).and_then(|()| sender.poll(&mut |_, _| {}).map(|_| ())) {
            Err(TransportError::PeerGone { peer: 0, .. }) => break,
            Ok(()) | Err(TransportError::WouldBlock) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(start.elapsed() < DEADLINE, "no PeerGone");
        std::thread::sleep(Duration::from_millis(1));
    }
    // And it stays gone.
    assert!(matches!(sender.try_send(0, &[b"x"]), Err(TransportError::PeerGone { peer: 0, .. })));
}

#[test]
fn connecting_to_a_dead_port_is_peer_gone() {
    let mut g = tcp_group_raw(1);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    g[0].add_peer(5, &format!("tcp1,{dead},127.0.0.1"), true).unwrap();
    let start = Instant::now();
    let mut res = g[0].try_send(5, &[b"x"]).map(|()| 0);
    while res.is_ok() {
        res = g[0].poll(&mut |_, _| {});
        assert!(start.elapsed() < DEADLINE);
    }
    assert!(matches!(res, Err(TransportError::PeerGone { peer: 5, .. })), "{res:?}");
}

#[test]
fn clean_close_delivers_everything_and_is_quiet() {
    let mut g = tcp_group_raw(2);
    for i in 0..100u32 {
        g[1].try_send(0, &[&i.to_le_bytes()]).unwrap();
    }
    let mut got = Vec::new();
    until("sender to flush", || {
        g[1].poll(&mut |_, _| {}).unwrap();
        g[0].poll(&mut |_, p| got.push(u32::from_le_bytes(p.try_into().unwrap()))).unwrap();
        !g[1].has_pending_writes()
    });
    let mut rx = g.remove(0);
    drop(g); // the sender is gone after flushing
    until("all 100 packets", || {
        rx.poll(&mut |_, p| got.push(u32::from_le_bytes(p.try_into().unwrap()))).unwrap();
        got.len() == 100
    });
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    // Polling after the close reports nothing and no error.
    let deadline = Instant::now() + Duration::from_millis(100);
    while Instant::now() < deadline {
        assert_eq!(rx.poll(&mut |_, _| panic!("unexpected packet")).unwrap(), 0);
    }
}

#[test]
fn pending_writes_prevent_sleep() {
    let mut g = tcp_group_raw(2);
    let big = vec![7u8; g[1].caps().max_packet];
    let mut got = 0usize;
    // Connect first.
    g[1].try_send(0, &[b"x"]).unwrap();
    until("connected", || {
        g[1].poll(&mut |_, _| {}).unwrap();
        got += g[0].poll(&mut |_, _| {}).unwrap();
        got == 1
    });
    // Without the receiver reading, big packets end up pending.
    let start = Instant::now();
    while !g[1].has_pending_writes() || g[1].prepare_sleep() {
        g[1].end_sleep();
        match g[1].try_send(0, &[&big]) {
            Ok(()) | Err(TransportError::WouldBlock) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(start.elapsed() < DEADLINE);
    }
    assert!(!g[1].prepare_sleep());
    g[1].end_sleep();
}

#[test]
fn a_connector_too_slow_for_the_handshake_retries_transparently() {
    let mut g = tcp_group_raw(2);
    g[0].set_handshake_timeout(Duration::from_millis(100));
    // Rank 1 starts connecting, then "computes" without polling.
    g[1].try_send(0, &[b"patient"]).unwrap();
    let mut got = Vec::new();
    until("the acceptor to time the connector out", || {
        poll_collect(&mut g[0], &mut got);
        g[0].rejected_connections() >= 1
    });
    assert!(got.is_empty());
    // Now rank 1 polls again: it must reconnect and deliver, once.
    until("the packet after the retry", || {
        g[1].poll(&mut |_, _| {}).unwrap();
        poll_collect(&mut g[0], &mut got);
        !got.is_empty()
    });
    let deadline = Instant::now() + Duration::from_millis(50);
    while Instant::now() < deadline {
        g[1].poll(&mut |_, _| {}).unwrap();
        poll_collect(&mut g[0], &mut got);
    }
    assert_eq!(got, vec![(1, b"patient".to_vec())]);
}

/// A sink that places payloads whose 8-byte prefix starts with `P` at the
/// offset in the next 4 bytes of `dest`, and records every event in order.
struct PlacingSink {
    dest: Vec<u8>,
    events: Vec<String>,
    delivered: Vec<Vec<u8>>,
}

impl rmpi_transports::tcp::PacketSink for PlacingSink {
    fn deliver(&mut self, from: Rank, pkt: &[u8]) {
        self.events.push(format!("deliver {from} {} {}", pkt[0] as char, pkt.len()));
        self.delivered.push(pkt.to_vec());
    }
    fn prefix_len(&self) -> Option<usize> {
        Some(8)
    }
    fn target(&mut self, _from: Rank, prefix: &[u8], payload_len: usize) -> Option<*mut u8> {
        let off = u32::from_le_bytes(prefix[1..5].try_into().unwrap()) as usize;
        (prefix[0] == b'P' && off + payload_len <= self.dest.len()).then(|| self.dest[off..].as_mut_ptr())
    }
    fn placed(&mut self, from: Rank, prefix: &[u8]) {
        let off = u32::from_le_bytes(prefix[1..5].try_into().unwrap());
        self.events.push(format!("placed {from} {off}"));
    }
}

#[test]
fn large_payloads_are_read_where_the_sink_says_in_order_with_the_rest() {
    let mut g = tcp_group_raw(2);
    let pattern = |seed: usize, n: usize| (0..n).map(|i| ((i * 7 + seed) % 251) as u8).collect::<Vec<u8>>();
    let prefix = |kind: u8, off: u32| {
        let mut p = vec![kind];
        p.extend_from_slice(&off.to_le_bytes());
        p.extend_from_slice(&[0, 0, 0]);
        p
    };
    // (kind, offset, payload length): placed, small, declined, too small to place, placed, placed.
    let plan: Vec<(u8, u32, usize)> = vec![
        (b'P', 0, (1 << 20) - 8),
        (b'S', 0, 100),
        (b'D', 0, 200 << 10),
        (b'P', 2 << 20, 1000),
        (b'P', 3 << 20, 100 << 10),
        (b'P', 1 << 20, 700_001),
    ];
    let mut expect = Vec::new();
    let mut sent = 0;
    let mut sink = PlacingSink { dest: vec![0; 4 << 20], events: Vec::new(), delivered: Vec::new() };
    until("every packet placed or delivered", || {
        while sent < plan.len() {
            let (kind, off, n) = plan[sent];
            let (p, body) = (prefix(kind, off), pattern(sent, n));
            match g[1].try_send(0, &[&p, &body]) {
                Ok(()) => {
                    // Above one read's worth a payload cannot arrive whole: placed.
                    let placed = kind == b'P' && n > 64 << 10;
                    expect.push(if placed {
                        format!("placed 1 {off}")
                    } else {
                        format!("deliver 1 {} {}", kind as char, n + 8)
                    });
                    sent += 1;
                }
                Err(TransportError::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
        }
        g[1].poll(&mut |_, _| {}).unwrap();
        g[0].poll_placing(&mut sink).unwrap();
        sent == plan.len() && sink.events.len() == plan.len()
    });
    assert_eq!(sink.events, expect);
    for (i, &(kind, off, n)) in plan.iter().enumerate() {
        let body = pattern(i, n);
        if kind == b'P' && n > 64 << 10 {
            assert!(sink.dest[off as usize..off as usize + n] == body[..], "placed payload {i} differs");
        }
    }
    let small: Vec<&Vec<u8>> = sink.delivered.iter().filter(|p| p[0] != b'D').collect();
    assert_eq!(small.len(), 2);
    assert_eq!(small[0][8..], pattern(1, 100)[..]);
    assert_eq!(small[1][8..], pattern(3, 1000)[..]);
    assert_eq!(sink.delivered.iter().find(|p| p[0] == b'D').unwrap()[8..], pattern(2, 200 << 10)[..]);
}

#[test]
fn answers_ride_on_the_connection_the_peer_opened() {
    let mut g = tcp_group_raw(2);
    let mut got = Vec::new();
    for i in 0..50u32 {
        g[0].try_send(1, &[&i.to_le_bytes()]).unwrap();
        until("ping", || {
            g[0].poll(&mut |_, _| panic!("no answer before the ping")).unwrap();
            poll_collect(&mut g[1], &mut got);
            got.len() == 1
        });
        assert_eq!(got.pop().unwrap(), (0, i.to_le_bytes().to_vec()));
        g[1].try_send(0, &[&(i + 1000).to_le_bytes()]).unwrap();
        until("pong", || {
            g[1].poll(&mut |_, _| panic!("no second ping yet")).unwrap();
            poll_collect(&mut g[0], &mut got);
            got.len() == 1
        });
        assert_eq!(got.pop().unwrap(), (1, (i + 1000).to_le_bytes().to_vec()));
    }
    // The answers took the connection rank 0 opened: no second one.
    assert_eq!(g[0].connections(), 1);
    assert_eq!(g[1].connections(), 1);
}

#[test]
fn simultaneous_first_sends_converge_on_one_connection_in_order() {
    for first in [0usize, 1] {
        let mut g = tcp_group_raw(2);
        // Both send before either has heard from the other: two connections.
        let mut next = [0u32; 2];
        let mut got: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        let step = |g: &mut Vec<TcpTransport>, next: &mut [u32; 2], got: &mut [Vec<u32>; 2], who: usize| {
            let to = 1 - who;
            match g[who].try_send(to as Rank, &[&next[who].to_le_bytes()]) {
                Ok(()) => next[who] += 1,
                Err(TransportError::WouldBlock) => {}
                Err(e) => panic!("{e}"),
            }
            for r in 0..2 {
                let sink = &mut got[r];
                g[r].poll(&mut |src, p| {
                    assert_eq!(src as usize, 1 - r);
                    sink.push(u32::from_le_bytes(p.try_into().unwrap()))
                })
                .unwrap();
            }
        };
        for who in [first, 1 - first] {
            g[who].try_send((1 - who) as Rank, &[&0u32.to_le_bytes()]).unwrap();
            next[who] = 1;
        }
        let start = Instant::now();
        let mut most = 0;
        // Keep both talking until each side is down to one connection.
        while !(g[0].connections() == 1 && g[1].connections() == 1 && next[0] > 200 && next[1] > 200) {
            step(&mut g, &mut next, &mut got, 0);
            step(&mut g, &mut next, &mut got, 1);
            most = most.max(g[0].connections() + g[1].connections());
            assert!(start.elapsed() < DEADLINE, "still {} and {} connections", g[0].connections(), g[1].connections());
        }
        assert!(most >= 3, "the two connections were never both up: {most}");
        until("everything delivered", || {
            for r in 0..2 {
                let sink = &mut got[r];
                g[r].poll(&mut |_, p| sink.push(u32::from_le_bytes(p.try_into().unwrap()))).unwrap();
            }
            got[0].len() == next[1] as usize && got[1].len() == next[0] as usize
        });
        // Every packet, once, in the order sent, across the handover.
        assert_eq!(got[0], (0..next[1]).collect::<Vec<_>>());
        assert_eq!(got[1], (0..next[0]).collect::<Vec<_>>());
    }
}

#[test]
fn gathered_writes_keep_order_and_contents_through_a_full_socket() {
    let mut g = tcp_group_raw(2);
    // Sizes around the transport's thresholds (64 KiB reads and the direct
    // send limit, 256 KiB, near its 1 MiB packet) and control-sized ones.
    let sizes = [52usize, 65_535, 65_536, 65_537, 262_143, 262_144, 262_145, 1_000_000, 7, 300_001];
    let plan: Vec<Vec<u8>> = (0..120usize)
        .map(|k| {
            let n = sizes[k % sizes.len()].max(8);
            let mut v: Vec<u8> = (0..n).map(|i| ((i * 13 + k * 7) % 251) as u8).collect();
            v[..4].copy_from_slice(&(k as u32).to_le_bytes());
            v
        })
        .collect();
    let mut got: Vec<(Rank, Vec<u8>)> = Vec::new();
    // Connect first (the handshake needs both sides polling).
    g[1].try_send(0, &[b"hello"]).unwrap();
    until("the first packet", || {
        g[1].poll(&mut |_, _| {}).unwrap();
        poll_collect(&mut g[0], &mut got);
        !got.is_empty()
    });
    got.clear();
    let mut sent = 0;
    let mut most = 0;
    let offer = |t: &mut TcpTransport, sent: &mut usize, most: &mut usize| {
        while *sent < plan.len() {
            let end = (*sent + 16).min(plan.len());
            let parts: Vec<[&[u8]; 2]> = plan[*sent..end].iter().map(|p| [&p[..8], &p[8..]]).collect();
            let packets: Vec<&[&[u8]]> = parts.iter().map(|p| &p[..]).collect();
            match t.try_send_batch(0, &packets) {
                Ok(k) => {
                    assert!(k >= 1 && k <= packets.len());
                    *sent += k;
                    *most = (*most).max(k);
                }
                Err(TransportError::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
        }
    };
    // The receiver does not read: the sockets fill and the writes stop short.
    for _ in 0..3 {
        offer(&mut g[1], &mut sent, &mut most);
        g[1].poll(&mut |_, _| {}).unwrap();
    }
    assert!(sent < plan.len(), "all {sent} packets went out with nobody reading");
    assert!(most >= 2, "several frames went in one write");
    until("every packet", || {
        offer(&mut g[1], &mut sent, &mut most);
        g[1].poll(&mut |_, _| {}).unwrap();
        poll_collect(&mut g[0], &mut got);
        got.len() == plan.len()
    });
    assert!(!g[1].has_pending_writes());
    for (k, (src, p)) in got.iter().enumerate() {
        assert_eq!(*src, 1);
        assert_eq!(u32::from_le_bytes(p[..4].try_into().unwrap()) as usize, k, "packet {k} out of order");
        assert!(p == &plan[k], "packet {k} ({} B) differs", plan[k].len());
    }
}
