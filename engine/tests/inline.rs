//! The small-send fast path (`Engine::inline_eager`): a packet made without
//! a request is received like any eager message, never overtakes a queued
//! packet, and is bounded by the eager credit like any other.

use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::{Engine, EngineConfig, PeerCaps, SendMode, Status, ENVELOPE_COST};

const CTX: u32 = 0;

fn pair(window: u64) -> (Engine, Engine) {
    let caps = PeerCaps { max_packet: 1 << 16, eager_limit: 1024, single_copy: false };
    let cfg = EngineConfig { eager_window: window, pid: 1, single_copy_ok: false };
    let (mut a, mut b) = (Engine::new(0, 2, cfg), Engine::new(1, 2, cfg));
    a.set_peer_caps(1, caps);
    b.set_peer_caps(0, caps);
    (a, b)
}

fn packet(header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut p = header.to_vec();
    p.extend_from_slice(payload);
    p
}

#[test]
fn an_inline_packet_is_received_like_an_eager_message() {
    let (mut a, mut b) = pair(1 << 20);
    let mut buf = [0u8; 8];
    // SAFETY: `buf` outlives the receive, which completes below.
    let r = b.post_recv(CTX, SrcSel::Rank(0), TagSel::Tag(7), unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) });
    let data = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let hdr = a.inline_eager(1, CTX, 0, 7, data.len()).expect("nothing queued and credit to spare");
    assert!(!a.has_output(), "the inline path queues nothing");
    b.on_packet(0, &packet(&hdr, &data)).expect("a valid eager packet");
    assert_eq!(
        b.status(r).expect("known request"),
        Some(Status { source: 0, tag: 7, count: 8, truncated: false, cancelled: false })
    );
    assert_eq!(buf, data);
}

#[test]
fn a_queued_packet_keeps_the_inline_path_closed_until_it_is_sent() {
    let (mut a, _b) = pair(1 << 20);
    let data = [9u8; 16];
    // SAFETY: `data` outlives the send (the engine is dropped first).
    let s = a.post_send(1, CTX, 0, 1, unsafe { SendBuf::new(data.as_ptr(), data.len()) }, SendMode::Standard);
    s.expect("routed peer");
    assert!(a.has_output());
    assert!(a.inline_eager(1, CTX, 0, 2, 8).is_none(), "an inline packet would overtake the queued one");
    assert!(a.next_transmit(1).is_some());
    a.transmit_done(1);
    assert!(a.inline_eager(1, CTX, 0, 2, 8).is_some(), "open again once the queue is empty");
}

#[test]
fn inline_packets_spend_and_give_back_eager_credit() {
    let len = 100;
    let cost = len as u64 + ENVELOPE_COST;
    let (mut a, _b) = pair(3 * cost);
    for _ in 0..3 {
        assert!(a.inline_eager(1, CTX, 0, 1, len).is_some());
    }
    assert!(a.inline_eager(1, CTX, 0, 1, len).is_none(), "the window is spent");
    a.undo_inline_eager(1, len);
    assert!(a.inline_eager(1, CTX, 0, 1, len).is_some(), "a refused packet's credit came back");
    assert!(a.inline_eager(1, CTX, 0, 1, 2000).is_none(), "above the eager limit");
}
