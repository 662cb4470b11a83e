"""Bcast of a NumPy array from root 0; every rank checks every element.

    mpiexec -n 4 python bcast_arange.py            # np.arange(100, dtype='i')
    mpiexec -n 4 python bcast_arange.py --mib 64   # a 64 MiB int32 array

Each rank prints "rank R of N: bcast ok (COUNT elements, BYTES bytes)".
"""

import argparse

import numpy as np
from mpi4py import MPI

p = argparse.ArgumentParser()
p.add_argument("--mib", type=int, default=0, help="array size in MiB (default: 100 elements)")
args = p.parse_args()

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
count = args.mib * 1024 * 1024 // 4 if args.mib else 100

if rank == 0:
    data = np.arange(count, dtype="i")
else:
    # Filled with a value no element of the broadcast has.
    data = np.full(count, -1, dtype="i")
comm.Bcast(data, root=0)

expect = np.arange(count, dtype="i")
bad = np.flatnonzero(data != expect)
assert bad.size == 0, f"rank {rank}: {bad.size} wrong elements, first at {bad[0]}: {data[bad[0]]} != {expect[bad[0]]}"
print(f"rank {rank} of {comm.Get_size()}: bcast ok ({count} elements, {data.nbytes} bytes)", flush=True)
