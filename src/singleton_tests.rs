//! The whole API in a singleton job (this test process is rank 0 of 1, with
//! no launcher): messages to self, truncation, checked receives, scopes and
//! leaked requests, cancellation, collectives, communicators and groups.
//!
//! MPI can be initialized once per process, so this is one test.

use crate::prelude::*;
use crate::request::OwnedRequest;
use crate::{Equivalence, ErrorClass};

#[derive(Clone, Copy, Debug, PartialEq, Equivalence)]
#[repr(C)]
struct Reading {
    value: f64,
    sensor: u32,
    valid: bool,
    _pad: [u8; 3],
}

#[test]
fn singleton_universe_runs_the_whole_api() {
    // No peers: cross-memory attach is irrelevant, skip its probe.
    std::env::set_var("RMPI_CMA_DISABLE", "1");
    let universe = crate::initialize().expect("first initialization");
    assert!(crate::initialize().is_none(), "a second initialization is refused");
    let world = universe.world();
    assert_eq!((world.rank(), world.size()), (0, 1));
    let me = world.process_at_rank(0);
    assert!(me.is_self());
    assert!(crate::time_resolution() > 0.0);
    let t0 = crate::time();
    assert!(crate::time() >= t0);
    assert!(!crate::processor_name().is_empty());

    point_to_point(&world);
    requests(&world);
    collectives(&world);
    communicators(&world);

    drop(world);
    drop(universe);
    assert!(crate::environment::is_finalized());
}

fn point_to_point(world: &SimpleCommunicator) {
    let me = world.process_at_rank(0);

    // A Vec to self, received whole.
    let r = me.immediate_send_owned((0..10u32).collect::<Vec<_>>(), 3);
    let (v, st) = world.any_process().receive_vec::<u32>();
    assert_eq!(v, (0..10).collect::<Vec<_>>());
    assert_eq!((st.source_rank(), st.tag(), st.count::<u32>()), (0, 3, 10));
    let (back, _) = r.wait();
    assert_eq!(back.len(), 10, "the owned buffer comes back");

    // Tags select; probe reports without receiving.
    let a = me.immediate_send_owned(vec![5i64], 5);
    let b = me.immediate_send_owned(vec![6i64], 6);
    let st = me.probe_with_tag(6);
    assert_eq!((st.tag(), st.count_bytes()), (6, 8));
    let (six, _) = me.receive_with_tag::<i64>(6);
    let (five, st) = me.receive::<i64>();
    assert_eq!((six, five, st.tag()), (6, 5, 5));
    a.wait();
    b.wait();
    assert!(me.immediate_probe().is_none(), "nothing left");

    // Too small a buffer is a truncation error.
    let s = me.immediate_send_owned(vec![1u32, 2], 0);
    let mut small = [0u32; 1];
    let e = me.try_receive_into(&mut small).unwrap_err();
    assert_eq!(e.class, ErrorClass::Truncate);
    s.wait();

    // Bytes that are not bools are rejected; valid ones arrive.
    let s = me.immediate_send_owned(vec![1u8, 2], 0);
    let mut flags = [false; 2];
    assert_eq!(me.try_receive_into(&mut flags).unwrap_err().class, ErrorClass::Type);
    assert_eq!(flags, [false, false], "nothing written");
    s.wait();
    let s = me.immediate_send_owned(vec![1u8, 0], 0);
    me.receive_into(&mut flags);
    assert_eq!(flags, [true, false]);
    s.wait();

    // A derived struct, by value and as a Vec; a matched probe.
    let x = Reading { value: 2.5, sensor: 7, valid: true, _pad: [0; 3] };
    let s = me.immediate_send_owned(vec![x, x], 9);
    let (msg, st) = world.any_process().matched_probe();
    assert_eq!(st.count::<Reading>(), 2);
    let (got, _) = msg.matched_receive_vec::<Reading>();
    assert_eq!(got, vec![x, x]);
    s.wait();
    let s = me.immediate_send_owned(vec![x], 1);
    assert_eq!(me.receive::<Reading>().0, x);
    s.wait();

    // A message of the wrong size for one value is an error, not garbage.
    let s = me.immediate_send_owned(vec![1u8, 2, 3], 0);
    let (msg, _) = me.matched_probe();
    assert_eq!(msg.try_matched_receive::<u32>().unwrap_err().class, ErrorClass::Type);
    s.wait();

    // Send-receive with self.
    let mut inp = [0u16; 4];
    let st = crate::point_to_point::send_receive_into(&[1u16, 2, 3, 4], &me, &mut inp, &me);
    assert_eq!((inp, st.count::<u16>()), ([1, 2, 3, 4], 4));
}

fn requests(world: &SimpleCommunicator) {
    let me = world.process_at_rank(0);

    // Scoped send and receive.
    let out = [1.5f32, -2.0];
    let mut inp = [0f32; 2];
    crate::request::scope(|scope| {
        let r = me.immediate_receive_into(scope, &mut inp);
        let s = me.immediate_send(scope, &out);
        assert_eq!(r.wait().count::<f32>(), 2);
        s.wait();
    });
    assert_eq!(inp, out);

    // A leaked receive is completed by the scope before it returns; a
    // dropped one is waited for on drop.
    let (mut leaked, mut dropped) = (0i32, 0i32);
    crate::request::scope(|scope| {
        let s1 = me.immediate_send_owned(vec![41], 1);
        let s2 = me.immediate_send_owned(vec![42], 2);
        std::mem::forget(me.immediate_receive_into_with_tag(scope, &mut leaked, 1));
        drop(me.immediate_receive_into_with_tag(scope, &mut dropped, 2));
        s1.wait();
        s2.wait();
    });
    assert_eq!((leaked, dropped), (41, 42));

    // test() before a message exists; cancel; the status says cancelled.
    let mut never = 0u8;
    crate::request::scope(|scope| {
        let r = me.immediate_receive_into_with_tag(scope, &mut never, 77);
        let r = r.test().expect_err("no message yet");
        r.cancel();
        assert!(r.wait().is_cancelled());
    });

    // A panic in a scope with a receive that will never match unwinds
    // (the receive is cancelled) instead of hanging; MPI stays usable.
    let mut orphan = 0u32;
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::request::scope(|scope| {
            let _pending = me.immediate_receive_into_with_tag(scope, &mut orphan, 99);
            panic!("deliberate panic with a pending receive");
        })
    }));
    assert!(unwound.is_err());
    assert!(world.any_process().immediate_probe().is_none());

    // Nonblocking receive of bools checks the bytes on completion.
    let mut flags = [false; 3];
    crate::request::scope(|scope| {
        let s = me.immediate_send_owned(vec![0u8, 1, 1], 4);
        let r = me.immediate_receive_into(scope, &mut flags);
        r.wait();
        s.wait();
    });
    assert_eq!(flags, [false, true, true]);

    // A collection of owned receives, completed in any order.
    let mut c: RequestCollection<OwnedRequest<Vec<u64>>> = RequestCollection::new();
    for tag in 0..4 {
        c.push(world.any_process().immediate_receive_owned(vec![0u64; 2], tag));
    }
    assert_eq!(c.incomplete(), 4);
    let sends: Vec<_> = (0..4).rev().map(|t| me.immediate_send_owned(vec![t as u64, 100], t)).collect();
    let (i, (buf, st)) = c.wait_any().expect("four outstanding");
    assert_eq!((buf[0], st.tag()), (i as u64, i as i32), "slot i holds the receive for tag i");
    let rest = c.wait_all();
    assert_eq!(rest.len(), 3);
    for (i, (buf, st)) in rest {
        assert_eq!((buf, st.tag()), (vec![i as u64, 100], i as i32));
    }
    assert!(c.is_empty() && c.wait_any().is_none());
    for s in sends {
        s.wait();
    }

    // wait_any / wait_all on a Vec of scoped requests.
    let mut a = [0u8; 1];
    let mut b = [0u8; 1];
    crate::request::scope(|scope| {
        let mut v = vec![me.immediate_receive_into_with_tag(scope, &mut a, 1)];
        v.push(me.immediate_receive_into_with_tag(scope, &mut b, 2));
        let s = me.immediate_send_owned(vec![9u8], 2);
        let (i, st) = crate::request::wait_any(&mut v).expect("two requests");
        assert_eq!((i, st.tag()), (1, 2));
        let s2 = me.immediate_send_owned(vec![8u8], 1);
        assert_eq!(crate::request::wait_all(v).len(), 1);
        s.wait();
        s2.wait();
    });
    assert_eq!((a, b), ([8], [9]));
}

fn collectives(world: &SimpleCommunicator) {
    let root = world.process_at_rank(0);
    let mut data = vec![3i32, 4, 5];
    root.broadcast_into(&mut data);
    assert_eq!(data, [3, 4, 5]);
    let mut flags = [true, false];
    root.broadcast_into(&mut flags);
    assert_eq!(flags, [true, false]);

    let mut sum = [0i32; 3];
    world.all_reduce_into(&data[..], &mut sum, SystemOperation::sum());
    assert_eq!(sum, [3, 4, 5]);
    let mut total = [[0u8; 2]; 1];
    world.all_reduce_into(&[[1u8, 2]], &mut total, SystemOperation::max());
    assert_eq!(total, [[1, 2]]);

    let e = world.try_all_reduce_into(&[1.0f64], &mut [0.0f64; 2][..], SystemOperation::sum()).unwrap_err();
    assert_eq!(e.class, ErrorClass::Count);
    let e = world.try_all_reduce_into(&[1.0f64], &mut [0.0f64][..], SystemOperation::bitwise_or()).unwrap_err();
    assert_eq!(e.class, ErrorClass::Op);

    let best = UserOperation::commutative(|x: &[Reading], acc: &mut [Reading]| {
        for (a, b) in x.iter().zip(acc) {
            if a.value > b.value {
                *b = *a;
            }
        }
    });
    let r = Reading { value: 1.0, sensor: 2, valid: true, _pad: [0; 3] };
    let mut out = Reading { value: 0.0, sensor: 0, valid: false, _pad: [0; 3] };
    root.reduce_into_root(&r, &mut out, &best);
    assert_eq!(out, r);

    let mut nb = [0i64; 2];
    crate::request::scope(|scope| {
        let req = world.immediate_all_reduce_into(scope, &[7i64, 8], &mut nb, SystemOperation::product());
        req.wait();
    });
    assert_eq!(nb, [7, 8]);
    let mut bc = [11u16; 3];
    crate::request::scope(|scope| root.immediate_broadcast_into(scope, &mut bc).wait());
    assert_eq!(bc, [11; 3]);
    world.immediate_barrier().wait();
    world.barrier();
}

fn communicators(world: &SimpleCommunicator) {
    let dup = world.duplicate();
    assert_eq!(dup.size(), 1);
    assert_eq!(world.compare(&dup), crate::CommunicatorRelation::Congruent);
    assert_eq!(world.compare(world), crate::CommunicatorRelation::Identical);

    // Messages on the duplicate do not match receives on the world.
    let s = dup.process_at_rank(0).immediate_send_owned(vec![1u8], 0);
    assert!(world.any_process().immediate_probe().is_none());
    assert_eq!(dup.any_process().receive::<u8>().0, 1);
    s.wait();

    let split = world.split_by_color_with_key(Color::with_value(3), 0).expect("colored");
    assert_eq!(split.rank(), 0);
    assert!(world.split_by_color(Color::undefined()).is_none());

    let g = world.group();
    assert_eq!((g.size(), g.rank()), (1, Some(0)));
    let empty = g.exclude(&[0]);
    assert_eq!((empty.size(), empty.rank()), (0, None));
    assert_eq!(g.union(&empty).compare(&g), crate::CommunicatorRelation::Identical);
    assert_eq!(g.translate_ranks(&[0], &empty), vec![None]);
    assert!(world.split_by_subgroup_collective(&empty).is_none());
    let sub = world.split_by_subgroup_collective(&g.include(&[0])).expect("member");
    sub.set_name("sub");
    assert_eq!(sub.get_name(), "sub");
}
