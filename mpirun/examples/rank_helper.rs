//! A stand-in for an MPI rank, used by rmpirun's tests (no MPI runtime is
//! needed): it speaks PMI through `rmpi_pmi::PmiClient`.
//!
//! Modes (first argument):
//! * `exchange`: put a card, fence, read every peer's card, a second epoch
//!   that replaces values, finalize; prints `rank R of N ok`.
//! * `abort RANK CODE MSG`: rank RANK aborts with CODE and MSG; the others
//!   wait in a fence that never completes.
//! * `no-finalize`: init, then exit 0 without finalize.
//! * `finalize-exit CODE`: init, finalize, exit CODE.
//! * `init-exit CODE`: init, exit CODE without finalize.
//! * `spew LINES LEN`: write LINES lines of LEN bytes to stdout, each made
//!   of one letter per rank followed by the line number, in small writes.

use std::io::Write;
use std::process::exit;

use rmpi_pmi::{parse_process_mapping, PmiClient};

fn client() -> PmiClient {
    match PmiClient::from_env() {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!("rank_helper: no PMI_FD");
            exit(90)
        }
        Err(e) => {
            eprintln!("rank_helper: PMI init failed: {e}");
            exit(91)
        }
    }
}

fn check<T>(what: &str, r: Result<T, rmpi_pmi::PmiError>) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("rank_helper: {what}: {e}");
        exit(92)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    match mode {
        "exchange" => {
            let mut c = client();
            let (rank, size) = (c.rank(), c.size());
            let jobid = c.jobid().to_string();
            assert_eq!(std::env::var("PMI_JOBID").ok().as_deref(), Some(jobid.as_str()));
            assert_eq!(check("universe", c.universe_size()), size);
            let map = check("mapping", c.process_mapping()).expect("mapping present");
            assert_eq!(check("parse", parse_process_mapping(&map, size)), vec![0; size as usize]);
            check("put", c.put(&format!("card-{rank}"), &format!("{jobid}:{rank}:x=y,z")));
            check("fence", c.fence());
            for p in 0..size {
                let v = check("get", c.get(&format!("card-{p}")));
                assert_eq!(v, Some(format!("{jobid}:{p}:x=y,z")), "card of {p}");
            }
            assert_eq!(check("get missing", c.get("no-such-key")), None);
            check("put2", c.put(&format!("card-{rank}"), &format!("second-{rank}")));
            check("fence2", c.fence());
            let next = (rank + 1) % size;
            assert_eq!(check("get2", c.get(&format!("card-{next}"))), Some(format!("second-{next}")));
            check("finalize", c.finalize());
            println!("rank {rank} of {size} ok ({:?})", c.version());
        }
        "abort" => {
            let mut c = client();
            let who: u32 = args[1].parse().expect("rank");
            let code: i32 = args[2].parse().expect("code");
            if c.rank() == who {
                check("abort", c.abort(code, &args[3]));
                std::thread::sleep(std::time::Duration::from_secs(60));
            } else {
                let _ = c.fence();
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
        }
        "no-finalize" => {
            let _c = client();
        }
        "init-exit" => {
            let _c = client();
            exit(args[1].parse().expect("code"));
        }
        "finalize-exit" => {
            let mut c = client();
            check("finalize", c.finalize());
            exit(args[1].parse().expect("code"));
        }
        "spew" => {
            let lines: usize = args[1].parse().expect("lines");
            let len: usize = args[2].parse().expect("len");
            let rank: u8 = std::env::var("PMI_RANK").ok().and_then(|r| r.parse().ok()).expect("PMI_RANK");
            let letter = b'a' + rank % 26;
            let out = std::io::stdout();
            let mut out = out.lock();
            for i in 0..lines {
                let mut line = vec![letter; len];
                line.extend_from_slice(format!(" {i}\n").as_bytes());
                // Several small writes per line so lines cross pipe reads.
                for piece in line.chunks(997) {
                    out.write_all(piece).expect("write");
                    out.flush().expect("flush");
                }
            }
        }
        _ => {
            eprintln!("rank_helper: unknown mode {mode:?}");
            exit(2);
        }
    }
}
