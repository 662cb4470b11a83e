//! Exercises the safe API across ranks and checks every result: broadcast of
//! structs and bools, reduce with predefined and non-commutative user
//! operators, all-reduce, all-gather and gather, the nonblocking
//! collectives, communicator splits, duplicates and groups, and wildcard
//! receives of whole vectors. Every rank prints `rank R: collectives ok`.
use rmpi::prelude::*;
use rmpi::CommunicatorRelation;

mod common;

#[derive(Clone, Copy, Debug, PartialEq, Equivalence)]
#[repr(C)]
struct Sample {
    value: f64,
    origin: i32,
    flag: bool,
    _pad: [u8; 3],
}

/// A decimal digit string: `digits` is its value, `len` its length. Joining
/// is associative but not commutative.
#[derive(Clone, Copy, Debug, PartialEq, Equivalence)]
#[repr(C)]
struct Digits {
    digits: u64,
    len: u64,
}

fn main() {
    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    let check = |ok: bool, what: &str| {
        if !ok {
            common::fail(&world, what);
        }
    };
    let last = world.process_at_rank(size - 1);
    let first = world.process_at_rank(0);

    // Broadcast a struct and bools from the last rank.
    let sent = Sample { value: 0.25, origin: size - 1, flag: true, _pad: [0; 3] };
    let mut s = if rank == size - 1 { sent } else { Sample { value: 0.0, origin: -1, flag: false, _pad: [0; 3] } };
    last.broadcast_into(&mut s);
    check(s == sent, "broadcast of a struct");
    let mut flags = [rank == size - 1, false, rank == size - 1];
    last.broadcast_into(&mut flags);
    check(flags == [true, false, true], "broadcast of bools");

    // Reduce to rank 0: predefined sum, and a non-commutative user operator.
    let mine = [rank as i64, 1];
    if rank == 0 {
        let mut total = [0i64; 2];
        first.reduce_into_root(&mine, &mut total, SystemOperation::sum());
        check(total == [(size as i64) * (size as i64 - 1) / 2, size as i64], "reduce sum");
    } else {
        first.reduce_into(&mine, SystemOperation::sum());
    }
    let join = UserOperation::non_commutative(|x: &[Digits], acc: &mut [Digits]| {
        for (a, b) in x.iter().zip(acc.iter_mut()) {
            *b = Digits { digits: a.digits * 10u64.pow(b.len as u32) + b.digits, len: a.len + b.len };
        }
    });
    let digit = Digits { digits: (rank % 10) as u64, len: 1 };
    let expected = (0..size).fold(0u64, |acc, r| acc * 10 + (r % 10) as u64);
    if size <= 19 {
        if rank == 0 {
            let mut out = Digits { digits: 0, len: 0 };
            first.reduce_into_root(&digit, &mut out, &join);
            check(out == Digits { digits: expected, len: size as u64 }, "non-commutative reduce keeps rank order");
        } else {
            first.reduce_into(&digit, &join);
        }
    }

    // All-reduce: max, logical and, and the user operator.
    let mut max = 0i32;
    world.all_reduce_into(&rank, &mut max, SystemOperation::max());
    check(max == size - 1, "all-reduce max");
    let mut all = [false; 2];
    world.all_reduce_into(&[true, rank == size - 1], &mut all, SystemOperation::logical_and());
    check(all == [true, size == 1], "all-reduce logical and");
    if size <= 19 {
        let mut out = Digits { digits: 0, len: 0 };
        world.all_reduce_into(&digit, &mut out, &join);
        check(out.digits == expected, "non-commutative all-reduce");
    }

    // All-gather and gather.
    let pair = [rank * 10, rank * 10 + 1];
    let mut gathered = vec![0i32; 2 * size as usize];
    world.all_gather_into(&pair, &mut gathered[..]);
    check(gathered == (0..size).flat_map(|r| [r * 10, r * 10 + 1]).collect::<Vec<_>>(), "all-gather");
    let root = world.process_at_rank(1 % size);
    if rank == 1 % size {
        let mut v = vec![false; size as usize];
        root.gather_into_root(&(rank % 2 == 1), &mut v[..]);
        check(v == (0..size).map(|r| r % 2 == 1).collect::<Vec<_>>(), "gather of bools");
    } else {
        root.gather_into(&(rank % 2 == 1));
    }

    // Nonblocking collectives.
    let mut sum = [0u64; 3];
    let mut bc = if rank == 0 { [5u16, 6, 7] } else { [0; 3] };
    rmpi::request::scope(|scope| {
        let a = world.immediate_all_reduce_into(scope, &[1u64, rank as u64, 2], &mut sum, SystemOperation::sum());
        let b = first.immediate_broadcast_into(scope, &mut bc);
        let c = world.immediate_barrier();
        a.wait();
        b.wait();
        c.wait();
    });
    check(sum == [size as u64, (size as u64) * (size as u64 - 1) / 2, 2 * size as u64], "immediate all-reduce");
    check(bc == [5, 6, 7], "immediate broadcast");

    // Split by parity, ordered by descending world rank.
    let half = world.split_by_color_with_key(Color::with_value(rank % 2), -rank).expect("every rank has a color");
    let members: Vec<i32> = (0..size).filter(|r| r % 2 == rank % 2).rev().collect();
    check(half.size() == members.len() as i32, "split size");
    check(members[half.rank() as usize] == rank, "split order follows the key");
    let mut ranks_sum = 0i32;
    half.all_reduce_into(&rank, &mut ranks_sum, SystemOperation::sum());
    check(ranks_sum == members.iter().sum::<i32>(), "all-reduce on a split");
    let none = world.split_by_color(if rank == 0 { Color::undefined() } else { Color::with_value(0) });
    check(none.is_none() == (rank == 0), "undefined color gets no communicator");

    // Duplicate, groups, create from a group.
    let dup = world.duplicate();
    check(world.compare(&dup) == CommunicatorRelation::Congruent, "dup is congruent");
    let evens: Vec<i32> = (0..size).step_by(2).collect();
    let group = world.group().include(&evens);
    check(group.size() == evens.len() as i32, "group size");
    check(group.rank() == (rank % 2 == 0).then_some(rank / 2), "group rank");
    let sub = world.split_by_subgroup_collective(&group);
    check(sub.is_some() == (rank % 2 == 0), "create from a group");
    if let Some(sub) = &sub {
        check(sub.rank() == rank / 2, "rank in the created communicator");
        sub.barrier();
    }

    // Wildcard receives of whole vectors on the duplicate.
    if rank == 0 {
        let mut seen = vec![false; size as usize];
        for _ in 1..size {
            let (v, st) = dup.any_process().receive_vec::<u32>();
            let src = st.source_rank();
            check(!seen[src as usize], "one message per rank");
            seen[src as usize] = true;
            check(v == (0..src as u32).collect::<Vec<_>>() && st.tag() == src, "vector content and tag");
        }
    } else {
        dup.process_at_rank(0).send_with_tag(&(0..rank as u32).collect::<Vec<_>>(), rank);
    }

    world.barrier();
    println!("rank {rank}: collectives ok");
}
