//! `Engine::peek_transmit`: the packets a transport may take in one write.
//! The look-ahead sees past whole packets but stops behind a `Data` entry
//! that still needs more than one chunk; taking what it showed, in order,
//! delivers every message intact.

use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{Engine, EngineConfig, PeerCaps, SendMode};

const CTX: u32 = 0;

fn pair() -> (Engine, Engine) {
    let caps = PeerCaps { max_packet: 1 << 16, eager_limit: 1024, single_copy: false };
    let cfg = EngineConfig { eager_window: 1 << 20, pid: 1, single_copy_ok: false };
    let (mut a, mut b) = (Engine::new(0, 2, cfg), Engine::new(1, 2, cfg));
    a.set_peer_caps(1, caps);
    b.set_peer_caps(0, caps);
    (a, b)
}

/// Every packet `from` has for `to`, taken up to 16 at a time through the
/// look-ahead; returns the largest number seen at once.
fn deliver(from: &mut Engine, to: &mut Engine, to_rank: u32, from_rank: u32) -> usize {
    let mut most = 0;
    loop {
        let mut batch = Vec::new();
        while batch.len() < 16 {
            let Some(t) = from.peek_transmit(to_rank, batch.len()) else { break };
            let mut p = t.header().to_vec();
            p.extend_from_slice(t.payload());
            batch.push(p);
        }
        if batch.is_empty() {
            return most;
        }
        most = most.max(batch.len());
        for p in &batch {
            from.transmit_done(to_rank);
            to.on_packet(from_rank, p).expect("a valid packet");
        }
    }
}

#[test]
fn look_ahead_stops_behind_a_multi_chunk_data_entry_and_delivers_in_order() {
    let (mut a, mut b) = pair();
    let sizes = [10_000usize, 200_000, 20_000, 65_488, 65_489, 3];
    let data: Vec<Vec<u8>> =
        sizes.iter().enumerate().map(|(k, &n)| (0..n).map(|i| (i * 31 + k) as u8).collect()).collect();
    let mut bufs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
    let recvs: Vec<_> = bufs
        .iter_mut()
        // SAFETY: the buffers outlive the receives, which complete below.
        .map(|b2| b.post_recv(CTX, SrcSel::Rank(0), TagSel::Tag(5), unsafe { RecvBuf::new(b2.as_mut_ptr(), b2.len()) }))
        .collect();
    for d in &data {
        // SAFETY: `data` outlives the sends (the engines are dropped first).
        a.post_send(1, CTX, 0, 5, unsafe { SendBuf::new(d.as_ptr(), d.len()) }, SendMode::Standard).expect("routed");
    }
    // Five Rts and one eager message go out in one look-ahead.
    assert_eq!(deliver(&mut a, &mut b, 1, 0), 6);
    // The receiver's Cts go back together.
    assert_eq!(deliver(&mut b, &mut a, 0, 1), 5);
    // Data: 10 000 whole, then 200 000 in four chunks: the look-ahead ends there.
    assert!(a.peek_transmit(1, 0).is_some() && a.peek_transmit(1, 1).is_some());
    assert!(a.peek_transmit(1, 2).is_none(), "nothing is known past a Data entry of several chunks");
    let first = a.peek_transmit(1, 0).map(|t| (t.header().to_vec(), t.payload().len()));
    let next = a.next_transmit(1).map(|t| (t.header().to_vec(), t.payload().len()));
    assert_eq!(first, next, "peek 0 is the next transmit");
    deliver(&mut a, &mut b, 1, 0);
    for (k, r) in recvs.into_iter().enumerate() {
        let st = b.status(r).expect("known").expect("complete");
        assert_eq!(st.count, sizes[k], "message {k}");
        assert!(bufs[k] == data[k], "message {k} differs");
    }
}

#[test]
fn awaits_reply_names_a_rendezvous_send_until_its_answer() {
    let (mut a, mut b) = pair();
    let big = vec![7u8; 5000];
    let small = [1u8; 8];
    // SAFETY: the buffers outlive the sends (the engines are dropped first).
    let s_big = a.post_send(1, CTX, 0, 1, unsafe { SendBuf::new(big.as_ptr(), big.len()) }, SendMode::Standard);
    let s_small = a.post_send(1, CTX, 0, 1, unsafe { SendBuf::new(small.as_ptr(), small.len()) }, SendMode::Standard);
    let (s_big, s_small) = (s_big.expect("routed"), s_small.expect("routed"));
    assert!(a.awaits_reply(s_big), "over the eager limit: an Rts");
    assert!(!a.awaits_reply(s_small), "eager");
    let mut buf = vec![0u8; 5000];
    // SAFETY: `buf` outlives the receive, which completes below.
    let r = b.post_recv(CTX, SrcSel::Rank(0), TagSel::Tag(1), unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) });
    deliver(&mut a, &mut b, 1, 0);
    deliver(&mut b, &mut a, 0, 1);
    assert!(!a.awaits_reply(s_big), "the Cts came: streaming");
    deliver(&mut a, &mut b, 1, 0);
    assert!(b.status(r).expect("known").is_some() && buf == big);
}
