//! PmiClient against the PmiServerConn/Kvs state machines over real
//! socketpairs, one server thread per connection, for both wire versions.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use rmpi_pmi::{
    parse_process_mapping, ClientHints, JobInfo, Kvs, PmiClient, PmiServerConn, PmiVersion, ServerEvent, ServerOutput,
};

struct Shared {
    kvs: Kvs,
    conns: Vec<PmiServerConn>,
    streams: Vec<UnixStream>,
}

fn apply(shared: &mut Shared, rank: u32, outs: Vec<ServerOutput>, events: &mpsc::Sender<ServerEvent>) {
    for o in outs {
        match o {
            ServerOutput::Reply(b) => {
                let _ = shared.streams[rank as usize].write_all(&b);
            }
            ServerOutput::Event(e) => {
                let _ = events.send(e);
            }
            ServerOutput::Close => {
                let _ = shared.streams[rank as usize].shutdown(Shutdown::Both);
            }
            ServerOutput::Gathered(_) => unreachable!("a standalone KVS never gathers"),
            ServerOutput::Resume(ranks) => {
                for r in ranks {
                    let Shared { kvs, conns, .. } = &mut *shared;
                    let more = conns[r as usize].resume(kvs);
                    apply(shared, r, more, events);
                }
            }
        }
    }
}

/// Starts a threaded server for `size` ranks; returns the client ends and
/// the event receiver.
fn start_server(size: u32, jobid: &str) -> (Vec<UnixStream>, mpsc::Receiver<ServerEvent>) {
    let mut client_ends = Vec::new();
    let mut server_ends = Vec::new();
    for _ in 0..size {
        let (a, b) = UnixStream::pair().unwrap();
        client_ends.push(a);
        server_ends.push(b);
    }
    let shared = Arc::new(Mutex::new(Shared {
        kvs: Kvs::new(JobInfo {
            jobid: jobid.into(),
            size,
            universe_size: size,
            appnum: 0,
            process_mapping: format!("(vector,(0,1,{size}))"),
        }),
        conns: (0..size).map(PmiServerConn::new).collect(),
        streams: server_ends.iter().map(|s| s.try_clone().unwrap()).collect(),
    }));
    let (tx, rx) = mpsc::channel();
    for (rank, mut s) in server_ends.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 512];
            loop {
                let n = match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut g = shared.lock().unwrap();
                let Shared { kvs, conns, .. } = &mut *g;
                let outs = conns[rank].feed(&buf[..n], kvs);
                apply(&mut g, rank as u32, outs, &tx);
            }
        });
    }
    (client_ends, rx)
}

fn exchange(version: PmiVersion) {
    let size = 4;
    let (ends, events) = start_server(size, "job-7");
    let mut handles = Vec::new();
    for (rank, end) in ends.into_iter().enumerate() {
        handles.push(thread::spawn(move || {
            let hints = ClientHints { rank: Some(rank as u32), size: Some(size), jobid: Some("job-7".into()) };
            let keep = end.try_clone().unwrap();
            let mut c = PmiClient::connect(OwnedFd::from(end), version, hints).unwrap();
            assert_eq!(c.version(), version);
            assert_eq!(c.rank(), rank as u32);
            assert_eq!(c.size(), size);
            assert_eq!(c.jobid(), "job-7");
            assert_eq!(c.appnum(), 0);
            assert_eq!(c.universe_size().unwrap(), size);
            let map = c.process_mapping().unwrap().unwrap();
            assert_eq!(parse_process_mapping(&map, size).unwrap(), vec![0; size as usize]);

            c.put(&format!("card-{rank}"), &format!("shm:/rmpi-{rank},tcp=127.0.0.1:{}", 1000 + rank)).unwrap();
            // Own put is invisible before the fence.
            assert_eq!(c.get(&format!("card-{rank}")).unwrap(), None);
            c.fence().unwrap();
            for peer in 0..size {
                assert_eq!(
                    c.get(&format!("card-{peer}")).unwrap().as_deref(),
                    Some(format!("shm:/rmpi-{peer},tcp=127.0.0.1:{}", 1000 + peer).as_str())
                );
            }
            assert_eq!(c.get("no-such-key").unwrap(), None);
            // Long values go in segments; short ones (even one that looks
            // like the segment marker) come back unchanged.
            let long: String = (0..3000).map(|i| char::from(b'a' + ((i + rank) % 26) as u8)).collect();
            c.put_split(&format!("long-{rank}"), &long).unwrap();
            c.put_split(&format!("short-{rank}"), "tcp1,80,127.0.0.1").unwrap();
            c.put_split(&format!("mark-{rank}"), "rmpi-segments:7").unwrap();
            c.fence().unwrap();
            for peer in 0..size as usize {
                let want: String = (0..3000).map(|i| char::from(b'a' + ((i + peer) % 26) as u8)).collect();
                assert_eq!(c.get_split(&format!("long-{peer}")).unwrap(), Some(want));
                let per = c.max_value_len(&format!("long-{peer}#1023"));
                assert_eq!(
                    c.get(&format!("long-{peer}")).unwrap(),
                    Some(format!("rmpi-segments:{}", 3000_usize.div_ceil(per)))
                );
                assert_eq!(c.get_split(&format!("short-{peer}")).unwrap().as_deref(), Some("tcp1,80,127.0.0.1"));
                assert_eq!(c.get_split(&format!("mark-{peer}")).unwrap().as_deref(), Some("rmpi-segments:7"));
            }
            assert_eq!(c.get_split("no-such-key").unwrap(), None);
            // Many keys at once (pipelined with PMI-2), more than one batch.
            let mut keys: Vec<String> = Vec::new();
            for i in 0..150 {
                keys.push(format!("card-{}", i % size as usize));
                keys.push(if i % 50 == 0 { format!("long-{}", i % size as usize) } else { format!("missing-{i}") });
            }
            let one_by_one: Vec<Option<String>> = keys.iter().map(|k| c.get(k).unwrap()).collect();
            assert_eq!(c.get_many(&keys).unwrap(), one_by_one);
            let split = c.get_split_many(&keys).unwrap();
            for (k, v) in keys.iter().zip(&split) {
                assert_eq!(v, &c.get_split(k).unwrap(), "{k}");
            }
            assert_eq!(split[1].as_ref().map(String::len), Some(3000));
            // Second epoch: re-put replaces.
            c.put(&format!("card-{rank}"), &format!("epoch2-{rank}")).unwrap();
            c.fence().unwrap();
            let next = (rank as u32 + 1) % size;
            assert_eq!(c.get(&format!("card-{next}")).unwrap(), Some(format!("epoch2-{next}")));
            // Bad values are refused locally.
            assert!(c.put("k", "a b").is_err());
            assert!(c.put("k", "a;b").is_err());
            assert!(c.put("k", &"x".repeat(1025)).is_err());
            let max = c.max_value_len("k");
            match version {
                PmiVersion::V2 => assert_eq!(max, 1024),
                // "cmd=put kvsname=job-7 key=k value=" + "\n" = 35 bytes.
                PmiVersion::V1 => assert_eq!(max, 1024 - 35),
            }
            assert!(c.put("k", &"x".repeat(max + 1)).is_err());
            c.finalize().unwrap();
            assert!(c.get("card-0").is_err());
            // The server closed its end after finalize.
            let mut b = [0u8; 8];
            let mut keep = keep;
            assert_eq!(keep.read(&mut b).unwrap(), 0);
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let evs: Vec<ServerEvent> = events.try_iter().collect();
    for r in 0..size {
        assert!(evs.contains(&ServerEvent::Initialized { rank: r, version }));
        assert!(evs.contains(&ServerEvent::Finalized { rank: r }));
    }
}

#[test]
fn pmi2_put_fence_get_finalize() {
    exchange(PmiVersion::V2);
}

#[test]
fn pmi1_put_fence_get_finalize() {
    exchange(PmiVersion::V1);
}

fn abort_reaches_server(version: PmiVersion) {
    let (mut ends, events) = start_server(1, "j");
    let end = ends.remove(0);
    let hints = ClientHints { rank: Some(0), size: Some(1), jobid: None };
    let mut c = PmiClient::connect(OwnedFd::from(end), version, hints).unwrap();
    c.abort(7, "out of cheese; sorry").unwrap();
    assert!(c.put("k", "v").is_err());
    let want_msg = match version {
        PmiVersion::V2 => "out of cheese_ sorry",
        PmiVersion::V1 => "",
    };
    loop {
        let ev = events.recv_timeout(std::time::Duration::from_secs(10)).expect("abort event");
        if let ServerEvent::Aborted { rank, code, msg } = ev {
            assert_eq!((rank, code, msg.as_str()), (0, 7, want_msg));
            break;
        }
    }
}

#[test]
fn pmi2_abort_reaches_server() {
    abort_reaches_server(PmiVersion::V2);
}

#[test]
fn pmi1_abort_reaches_server() {
    abort_reaches_server(PmiVersion::V1);
}

#[test]
fn pmi1_requires_rank_and_size_hints() {
    let (mut ends, _events) = start_server(1, "j");
    let end = ends.remove(0);
    let err = PmiClient::connect(OwnedFd::from(end), PmiVersion::V1, ClientHints::default()).unwrap_err();
    assert!(err.to_string().contains("PMI_RANK"), "{err}");
}

#[test]
fn launcher_death_is_an_error_not_a_hang() {
    let (a, b) = UnixStream::pair().unwrap();
    let t = thread::spawn(move || {
        let mut b = b;
        let mut buf = [0u8; 128];
        let n = b.read(&mut buf).unwrap();
        assert!(n > 0);
        // Launcher dies without answering.
        drop(b);
    });
    let err = PmiClient::connect(OwnedFd::from(a), PmiVersion::V2, ClientHints::default()).unwrap_err();
    assert!(matches!(err, rmpi_pmi::PmiError::Closed(_)), "{err}");
    t.join().unwrap();
}
