"""Parallel sum: np.arange(16.) scattered over the ranks (Scatter), a local
np.sum, then Allreduce with MPI.DOUBLE and MPI.SUM.

    mpiexec -n 4 python psum.py      # any size dividing 16

Every rank asserts the total is 120.0 and prints "rank R of N: psum 120.0".
`psum` is also what the IPython-parallel test runs on its engines.
"""

import numpy as np
from mpi4py import MPI


def psum(a):
    """Sum of the distributed array whose local part is `a`, on every rank."""
    local = np.array(np.sum(a), dtype="d")
    total = np.zeros(1, dtype="d")
    MPI.COMM_WORLD.Allreduce([local, MPI.DOUBLE], [total, MPI.DOUBLE], op=MPI.SUM)
    return float(total[0])


def main():
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    assert 16 % size == 0, f"psum.py needs a number of ranks dividing 16, not {size}"
    full = np.arange(16.0) if rank == 0 else None
    part = np.empty(16 // size, dtype="d")
    comm.Scatter(full, part, root=0)
    expect = np.arange(16.0)[rank * part.size : (rank + 1) * part.size]
    assert np.array_equal(part, expect), f"rank {rank}: scattered {part}, expected {expect}"
    total = psum(part)
    assert total == 120.0, f"rank {rank}: psum gave {total}"
    print(f"rank {rank} of {size}: psum {total}", flush=True)


if __name__ == "__main__":
    main()
