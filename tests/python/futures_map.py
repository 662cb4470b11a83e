"""mpi4py.futures: an MPIPoolExecutor maps a function over 20 items.

    mpiexec -n 3 python -m mpi4py.futures futures_map.py

Rank 0 runs this script; ranks 1 and 2 are the pool's workers. Prints
"futures ok: 20 results from workers [..]" when every result is right and
every item was computed by a worker rank (not by rank 0).
"""

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def work(x):
    return x * x + 1, MPI.COMM_WORLD.Get_rank()


def main():
    size = MPI.COMM_WORLD.Get_size()
    with MPIPoolExecutor() as pool:
        results = list(pool.map(work, range(20)))
    values = [v for v, _ in results]
    workers = sorted({r for _, r in results})
    assert values == [x * x + 1 for x in range(20)], values
    assert all(0 < r < size for r in workers), f"items ran on ranks {workers} of {size}"
    print(f"futures ok: {len(values)} results from workers {workers}", flush=True)


if __name__ == "__main__":
    main()
