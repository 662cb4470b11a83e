//! Shared-memory specifics: segment permissions and unlinking, cards,
//! doorbell economy, attach errors, and a real second process.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rmpi_transports::shm::{ShmConfig, ShmTransport};
use rmpi_transports::{cma, wait_readable, Rank, Transport, TransportError};

fn create(job: &str, rank: Rank, n: u32) -> ShmTransport {
    ShmTransport::create(ShmConfig { job: job.into(), rank, local_ranks: (0..n).collect() }).unwrap()
}

#[test]
fn segment_is_private_and_unlink_removes_it() {
    let job = unique_job("perm");
    let mut t = create(&job, 0, 2);
    let path = t.segment_path();
    assert_eq!(path, std::path::PathBuf::from(format!("/dev/shm/rmpi-{job}-0")));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(t.is_linked());
    t.unlink().unwrap();
    assert!(!path.exists());
    assert!(!t.is_linked());
    t.unlink().unwrap(); // idempotent
}

#[test]
fn drop_unlinks_a_linked_segment() {
    let job = unique_job("drop");
    let t = create(&job, 0, 1);
    let path = t.segment_path();
    assert!(path.exists());
    drop(t);
    assert!(!path.exists());
}

#[test]
fn second_segment_with_same_name_is_refused() {
    let job = unique_job("excl");
    let _a = create(&job, 0, 2);
    let err = ShmTransport::create(ShmConfig { job: job.clone(), rank: 0, local_ranks: vec![0, 1] }).err().unwrap();
    assert!(matches!(err, TransportError::Io { .. }), "{err}");
}

#[test]
fn card_is_short_and_plain_even_for_a_hostile_job_id() {
    let job = format!("{} a;b=c\nd/..", "x".repeat(300));
    let t = ShmTransport::create(ShmConfig { job: job.clone(), rank: 12345, local_ranks: vec![12345] }).unwrap();
    let card = t.card();
    assert!(card.len() <= 200, "{card}");
    assert!(card.is_ascii() && !card.contains([';', ' ', '\n', '=', '/']), "{card}");
    assert!(card.starts_with("shm1,rmpi-"));
}

#[test]
fn bad_local_ranks_are_refused() {
    let job = unique_job("cfg");
    assert!(ShmTransport::create(ShmConfig { job: job.clone(), rank: 5, local_ranks: vec![0, 1] }).is_err());
    assert!(ShmTransport::create(ShmConfig { job: job.clone(), rank: 1, local_ranks: vec![1, 0] }).is_err());
}

#[test]
fn attach_checks_the_card_against_the_segment() {
    let job = unique_job("attach");
    let mut a = create(&job, 0, 3);
    let b = create(&job, 1, 3);
    let c = create(&job, 2, 3);
    assert!(matches!(a.attach(1, "garbage"), Err(TransportError::BadCard(_))));
    // Rank 2's card presented as rank 1's.
    assert!(matches!(a.attach(1, &c.card()), Err(TransportError::BadCard(_))));
    assert!(matches!(a.attach(9, &b.card()), Err(TransportError::UnknownPeer(9))));
    assert!(matches!(a.attach(0, &a.card()), Err(TransportError::UnknownPeer(0))));
    assert!(matches!(a.try_send(1, &[b"x"]), Err(TransportError::UnknownPeer(1))));
    a.attach(1, &b.card()).unwrap();
    a.attach(1, &b.card()).unwrap(); // no-op
    assert!(a.is_attached(1) && !a.is_attached(2));
    // A segment made for a different set of local ranks is refused.
    let other = create(&unique_job("attach2"), 1, 2);
    let mut fresh = create(&unique_job("attach3"), 0, 3);
    assert!(matches!(fresh.attach(1, &other.card()), Err(TransportError::BadCard(_))));
}

#[test]
fn receiving_needs_no_attach() {
    let job = unique_job("recv");
    let mut a = create(&job, 0, 2);
    let mut b = create(&job, 1, 2);
    b.attach(0, &a.card()).unwrap();
    b.try_send(0, &[b"hello"]).unwrap();
    let mut got = Vec::new();
    a.poll(&mut |src, p| got.push((src, p.to_vec()))).unwrap();
    assert_eq!(got, vec![(1, b"hello".to_vec())]);
}

#[test]
fn doorbell_rings_only_for_a_sleeping_receiver_and_once_per_sleep() {
    let mut g = shm_group_with(2, None);
    let (a, b) = g.split_at_mut(1);
    let (rx, tx) = (&mut a[0], &mut b[0]);
    for _ in 0..100 {
        tx.try_send(0, &[b"awake"]).unwrap();
    }
    assert_eq!(tx.counters().doorbells_rung, 0, "no system call while the receiver is awake");
    assert_eq!(rx.poll(&mut |_, _| {}).unwrap(), 100);

    assert!(rx.prepare_sleep());
    let mut fds = Vec::new();
    rx.wait_fds(&mut fds);
    assert_eq!(wait_readable(&fds, Some(Duration::ZERO)).unwrap(), 0);
    tx.try_send(0, &[b"wake"]).unwrap();
    tx.try_send(0, &[b"again"]).unwrap();
    assert_eq!(tx.counters().doorbells_rung, 1);
    assert_eq!(wait_readable(&fds, Some(DEADLINE)).unwrap(), 1);
    rx.end_sleep();
    // end_sleep drained the doorbell.
    assert_eq!(wait_readable(&fds, Some(Duration::ZERO)).unwrap(), 0);
    let mut got = Vec::new();
    rx.poll(&mut |_, p| got.push(p.to_vec())).unwrap();
    assert_eq!(got, vec![b"wake".to_vec(), b"again".to_vec()]);
    tx.try_send(0, &[b"awake again"]).unwrap();
    assert_eq!(tx.counters().doorbells_rung, 1);
    assert_eq!(tx.caps().max_packet, rmpi_transports::shm::DEFAULT_RING_BYTES / 4);
    assert_eq!(tx.caps().single_copy, cma::probe());
}

#[test]
fn fair_round_robin_over_senders() {
    let mut g = shm_group_with(3, Some(64 * 1024));
    for _ in 0..200 {
        g[1].try_send(0, &[b"one"]).unwrap();
        g[2].try_send(0, &[b"two"]).unwrap();
    }
    // The first 64 packets delivered come from both senders.
    let mut first = Vec::new();
    g[0].poll(&mut |src, _| first.push(src)).unwrap();
    let from1 = first[..64].iter().filter(|&&s| s == 1).count();
    assert!((16..=48).contains(&from1), "unfair: {from1} of the first 64 from rank 1");
    assert_eq!(first.len(), 400);
}

/// Environment variables that turn this test binary into the child.
const CHILD_JOB: &str = "RMPI_TEST_SHM_CHILD_JOB";
const PARENT_CARD: &str = "RMPI_TEST_SHM_PARENT_CARD";
const CHILD_PACKETS: u64 = 2000;

/// Child side of `two_processes_exchange_packets_and_memory`: rank 1 of 2.
#[test]
fn shm_child_process_role() {
    let (Ok(job), Ok(parent_card)) = (std::env::var(CHILD_JOB), std::env::var(PARENT_CARD)) else {
        return;
    };
    let mut t = create(&job, 1, 2);
    // Map the parent's segment before showing our card: once the parent has
    // our card it unlinks its own segment's name.
    t.attach(0, &parent_card).unwrap();
    println!("CARD {}", t.card());
    // A buffer the parent reads with CMA.
    let secret_buf: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let addr = (secret_buf.as_ptr() as usize as u64).to_le_bytes();
    let mut seq = 0u64;
    let start = Instant::now();
    let mut pending: Vec<Vec<u8>> = vec![addr.to_vec()];
    pending.extend((0..CHILD_PACKETS).map(|s| packet(1, s, random_size(1, s, t.caps().max_packet))));
    let mut bye = false;
    let mut fds = Vec::new();
    while !bye {
        while (seq as usize) < pending.len() {
            match send_parts(&mut t, 0, &pending[seq as usize]) {
                Ok(()) => seq += 1,
                Err(TransportError::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
        }
        t.poll(&mut |src, p| {
            assert_eq!((src, p), (0, &b"bye"[..]));
            bye = true;
        })
        .unwrap();
        // Sleep properly while waiting for the parent.
        if !bye && seq as usize == pending.len() && t.prepare_sleep() {
            fds.clear();
            t.wait_fds(&mut fds);
            wait_readable(&fds, Some(DEADLINE)).unwrap();
        }
        t.end_sleep();
        assert!(start.elapsed() < DEADLINE, "child timed out");
    }
    drop(secret_buf);
}

#[test]
fn two_processes_exchange_packets_and_memory() {
    let job = unique_job("proc");
    let mut t = create(&job, 0, 2);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shm_child_process_role", "--nocapture", "--test-threads=1"])
        .env(CHILD_JOB, &job)
        .env(PARENT_CARD, t.card())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let child_pid = child.id() as i32;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let card = loop {
        let line = lines.next().expect("child output ended before its card").unwrap();
        // The test harness may print on the same line first.
        if let Some(i) = line.find("CARD ") {
            break line[i + 5..].trim().to_string();
        }
    };
    t.attach(1, &card).unwrap();
    t.unlink().unwrap();
    let mut remote_addr = None;
    let mut checker = Checker::new(2, random_size, t.caps().max_packet);
    until("all packets from the child process", || {
        t.poll(&mut |src, p| {
            assert_eq!(src, 1);
            if remote_addr.is_none() {
                remote_addr = Some(u64::from_le_bytes(p.try_into().unwrap()) as usize);
            } else {
                checker.check(src, p);
            }
        })
        .unwrap();
        checker.next[1] == CHILD_PACKETS
    });
    if cma::probe() {
        let mut buf = vec![0u8; 100_000];
        cma::read_remote(child_pid, remote_addr.unwrap(), &mut buf).unwrap();
        assert!(buf.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8));
    }
    // The child is (or will be) asleep: the doorbell must wake it.
    t.try_send(1, &[b"bye"]).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "child failed: {status}");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "child did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Bytes of `/dev/shm` the segment file holds (tmpfs allocates on touch).
fn allocated(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_ring_is_populated_whole_at_its_first_packet_and_unused_rings_stay_sparse() {
    let job = unique_job("populate");
    let ring = 256 * 1024;
    let cfg = |rank| ShmConfig { job: job.clone(), rank, local_ranks: vec![0, 1, 2] };
    let mut a = ShmTransport::create_with_ring_bytes(cfg(0), Some(ring)).unwrap();
    let mut b = ShmTransport::create_with_ring_bytes(cfg(1), Some(ring)).unwrap();
    let mut c = ShmTransport::create_with_ring_bytes(cfg(2), Some(ring)).unwrap();
    b.attach(0, &a.card()).unwrap();
    c.attach(0, &a.card()).unwrap();
    let path = a.segment_path();
    let before = allocated(&path);
    assert!(before < ring as u64 / 4, "a fresh segment is sparse: {before} bytes");
    b.try_send(0, &[b"first"]).unwrap();
    let after = allocated(&path);
    // The whole ring from rank 1, not one page of it; rank 2's is untouched.
    assert!(after >= before + ring as u64, "{before} -> {after}");
    assert!(after < before + 2 * ring as u64, "{before} -> {after}");
    // The data is right, and the consumer's side populates without harm.
    let mut got = Vec::new();
    a.poll(&mut |src, p| got.push((src, p.to_vec()))).unwrap();
    assert_eq!(got, vec![(1, b"first".to_vec())]);
    for i in 0..10_000u32 {
        b.try_send(0, &[&i.to_le_bytes()]).unwrap_or_else(|e| panic!("send {i}: {e:?}"));
        let mut n = 0;
        a.poll(&mut |src, p| {
            assert_eq!((src, p), (1, &i.to_le_bytes()[..]));
            n += 1;
        })
        .unwrap();
        assert_eq!(n, 1);
    }
    drop(c);
}

#[test]
fn shares_cpu_sees_a_peer_that_last_waited_on_the_same_cpu() {
    // Two transports driven by this one thread: whenever the thread did
    // not move between the two calls, each sees the other on its CPU.
    let job = unique_job("cpu");
    let mut a = create(&job, 0, 2);
    let mut b = create(&job, 1, 2);
    a.attach(1, &b.card()).unwrap();
    b.attach(0, &a.card()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        b.shares_cpu();
        if a.shares_cpu() {
            break;
        }
        assert!(Instant::now() < deadline, "never saw the peer on this CPU");
    }
    // A third rank that never waited is on no CPU: alone, a rank shares none.
    let job = unique_job("cpu-alone");
    let mut c = create(&job, 0, 2);
    let d = create(&job, 1, 2);
    c.attach(1, &d.card()).unwrap();
    assert!(!c.shares_cpu());
}
