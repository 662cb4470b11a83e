//! MPI_THREAD_MULTIPLE: every rank runs 4 threads; thread t of rank r
//! exchanges 500 messages with thread t of the partner rank (tag t), all
//! concurrently, blocking and nonblocking. Needs an even number of ranks.
//! Prints `rank R: threads ok`.

use rmpi_runtime::api;
use rmpi_runtime::{SendMode, ThreadLevel, COMM_WORLD as W};

const THREADS: i32 = 4;
const ROUNDS: u32 = 500;

fn main() {
    let provided = api::init(ThreadLevel::Multiple).expect("init");
    assert_eq!(provided, ThreadLevel::Multiple);
    let me = api::comm_rank(W).unwrap();
    let n = api::comm_size(W).unwrap();
    assert!(n % 2 == 0, "threads needs an even number of ranks");
    let partner = me ^ 1;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    let out = (me as u32 * 1_000_000 + t as u32 * 10_000 + i).to_ne_bytes();
                    let mut got = [0u8; 4];
                    if i % 2 == 0 {
                        let st = api::sendrecv(&out, partner, t, &mut got, partner, t, W).expect("sendrecv");
                        assert_eq!(st.tag, t);
                    } else {
                        let r = unsafe { api::irecv(got.as_mut_ptr(), 4, partner, t, W) }.expect("irecv");
                        api::send(&out, partner, t, W, SendMode::Standard).expect("send");
                        api::wait(r).expect("wait");
                    }
                    let want = partner as u32 * 1_000_000 + t as u32 * 10_000 + i;
                    assert_eq!(u32::from_ne_bytes(got), want, "thread {t} round {i}: wrong message");
                }
            })
        })
        .collect();
    for h in handles {
        if h.join().is_err() {
            api::abort(W, 1, "a thread failed");
        }
    }
    api::barrier(W).unwrap();
    println!("rank {me}: threads ok");
    api::finalize().unwrap();
}
