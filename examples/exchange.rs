//! Two ranks send each other N bytes at the same time, K times.
//!
//! `exchange --bytes N --reps K --mode sendrecv|isend`
//!
//! `sendrecv` uses `send_receive_into` (MPI_Sendrecv); `isend` starts a
//! nonblocking receive and a nonblocking send and waits for both. Each rank
//! checks every byte it received and prints `exchange ok`.
use rmpi::prelude::*;

mod common;

/// Byte `i` of the message `sender` sends in repetition `rep`.
fn fill(buf: &mut [u8], sender: i32, rep: usize) {
    let salt = (sender as u32).wrapping_mul(0x9e37_79b9) ^ (rep as u32).wrapping_mul(0x85eb_ca6b);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((i as u32).wrapping_mul(2_654_435_761) ^ salt).rotate_left(7) as u8;
    }
}

fn main() {
    let args = common::Args::parse();
    let bytes: usize = args.get("bytes", 1 << 20);
    let reps: usize = args.get("reps", 10);
    let mode = args.get_str("mode", "sendrecv");
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    if world.size() != 2 {
        common::fail(&world, "exchange needs exactly 2 ranks");
    }
    if mode != "sendrecv" && mode != "isend" {
        common::fail(&world, &format!("unknown --mode {mode} (sendrecv or isend)"));
    }
    let me = world.rank();
    let peer = world.process_at_rank(1 - me);
    let mut out = vec![0u8; bytes];
    let mut inp = vec![0u8; bytes];
    let mut want = vec![0u8; bytes];
    for rep in 0..reps {
        fill(&mut out, me, rep);
        inp.iter_mut().for_each(|b| *b = 0);
        let st = if mode == "sendrecv" {
            rmpi::point_to_point::send_receive_into(&out[..], &peer, &mut inp[..], &peer)
        } else {
            rmpi::request::scope(|scope| {
                let r = peer.immediate_receive_into(scope, &mut inp[..]);
                let s = peer.immediate_send(scope, &out[..]);
                let st = r.wait();
                s.wait();
                st
            })
        };
        if st.count_bytes() != bytes || st.source_rank() != 1 - me {
            common::fail(&world, &format!("rep {rep}: received {} bytes from {}", st.count_bytes(), st.source_rank()));
        }
        fill(&mut want, 1 - me, rep);
        if let Some(i) = inp.iter().zip(&want).position(|(a, b)| a != b) {
            common::fail(&world, &format!("rep {rep}: byte {i} is {} but should be {}", inp[i], want[i]));
        }
    }
    println!("exchange ok");
}
