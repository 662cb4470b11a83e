"""IPython parallel on MPI: an `ipcluster` of 4 MPI engines started through
the given mpiexec, the psum of np.arange(16.) scattered over them, then a
clean stop with no process left.

    python ipyparallel_psum.py --mpiexec /path/to/mpiexec [--n 4] [--timeout 120]

Steps (each waits on a condition with a deadline, never a fixed sleep):
 1. `ipcluster start -n N --engines=mpi --MPILauncher.mpi_cmd=[MPIEXEC]`
    with its own profile directory (in a temporary IPYTHONDIR);
 2. a Client connects and waits for N engines; each engine reports its pid
    and its MPI rank (COMM_WORLD must be of size N);
 3. `view.scatter('a', np.arange(16, dtype='float'))`, then psum (from
    psum.py beside this file) on every engine: [120.0] * N;
 4. `ipcluster stop`; the ipcluster process ends, and so does every engine
    and the mpiexec.
Prints "ipyparallel ok: ..." lines; exits non-zero with a message naming
the step that failed (after killing whatever it started).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(f"ipyparallel_psum: {msg}", flush=True)


def wait_until(what, cond, deadline):
    """Poll `cond` (which returns a true value when done) until `deadline` (time.monotonic())."""
    delay = 0.01
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def alive(pid):
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def descendants(root):
    """Pids of every live process below `root` (by walking /proc parent links)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mpiexec", required=True, help="mpiexec the MPI engines are started with")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--timeout", type=float, default=120.0, help="deadline of each step, seconds")
    args = p.parse_args()
    n, step_timeout = args.n, args.timeout

    import ipyparallel as ipp

    ipydir = tempfile.mkdtemp(prefix="rmpi-ipython-")
    profile_dir = os.path.join(ipydir, "profile_mpi")
    env = dict(os.environ, IPYTHONDIR=ipydir)
    env.pop("PYTHONSTARTUP", None)
    bindir = os.path.dirname(sys.executable)
    ipcluster = [os.path.join(bindir, "ipcluster")]
    common = [f"--profile-dir={profile_dir}"]
    cmd = ipcluster + [
        "start",
        f"-n={n}",
        "--engines=mpi",
        f"--MPILauncher.mpi_cmd={json.dumps([args.mpiexec])}",
        # The engines' own deadline for registering with the controller.
        "--IPEngine.timeout=30",
        *common,
        "--log-level=INFO",
    ]
    log_path = os.path.join(ipydir, "ipcluster.log")
    logf = open(log_path, "w")
    log("start: " + " ".join(cmd))
    cluster = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    engine_pids = []
    started_below = set()
    ok = False
    step = "ipcluster start"
    try:
        connection = os.path.join(profile_dir, "security", "ipcontroller-client.json")
        wait_until(
            "the controller's connection file",
            lambda: os.path.exists(connection) or cluster.poll() is not None,
            time.monotonic() + step_timeout,
        )
        if cluster.poll() is not None:
            raise RuntimeError(f"ipcluster exited with {cluster.returncode} before its controller was up")

        step = f"Client connects and waits for {n} engines"
        rc = ipp.Client(profile_dir=profile_dir, timeout=step_timeout)
        rc.wait_for_engines(n, timeout=step_timeout)
        view = rc[:]
        view.block = True
        ids = view.apply_sync(lambda: __import__("os").getpid())
        engine_pids = list(ids)
        started_below = set(descendants(cluster.pid))
        ranks = view.apply_sync(
            lambda: (lambda M: (M.COMM_WORLD.Get_rank(), M.COMM_WORLD.Get_size()))(__import__("mpi4py.MPI").MPI)
        )
        sizes = {s for _, s in ranks}
        assert sizes == {n}, f"engines see COMM_WORLD sizes {sizes}, expected {n}"
        assert sorted(r for r, _ in ranks) == list(range(n)), f"engine ranks {ranks}"
        log(f"engines: pids {engine_pids}, MPI ranks {sorted(r for r, _ in ranks)} of {n}")

        step = "scatter and psum"
        view.execute(f"import sys; sys.path.insert(0, {HERE!r}); from psum import psum")
        view.scatter("a", np.arange(16, dtype="float"))
        view.execute("totalsum = psum(a)")
        totals = view["totalsum"]
        log(f"psum on every engine: {totals}")
        assert totals == [120.0] * n, f"psum gave {totals}, expected {[120.0] * n}"
        rc.close()

        step = "ipcluster stop"
        stop = subprocess.run(
            ipcluster + ["stop", *common],
            env=env,
            capture_output=True,
            text=True,
            timeout=step_timeout,
        )
        if stop.returncode != 0:
            raise RuntimeError(f"ipcluster stop exited {stop.returncode}: {stop.stdout}{stop.stderr}")
        wait_until("ipcluster to exit", lambda: cluster.poll() is not None, time.monotonic() + step_timeout)
        watched = set(engine_pids) | started_below
        left = wait_until(
            "every engine and mpiexec process to end",
            lambda: not [p for p in watched if alive(p)] and "none",
            time.monotonic() + step_timeout,
        )
        log(f"stopped: ipcluster exit {cluster.returncode}, {len(watched)} processes watched, {left} left")
        ok = True
    except BaseException as e:  # report the step, then clean up
        log(f"FAILED at step '{step}': {type(e).__name__}: {e}")
        raise
    finally:
        if not ok:
            for p in set(engine_pids) | started_below | set(descendants(cluster.pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            if cluster.poll() is None:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait()
            logf.close()
            with open(log_path) as f:
                sys.stderr.write("--- ipcluster log\n" + f.read()[-20000:])
            for name in os.listdir(os.path.join(profile_dir, "log")) if os.path.isdir(os.path.join(profile_dir, "log")) else []:
                with open(os.path.join(profile_dir, "log", name), errors="replace") as f:
                    sys.stderr.write(f"--- {name}\n" + f.read()[-5000:])
        else:
            logf.close()
        shutil.rmtree(ipydir, ignore_errors=True)
    log(f"ipyparallel ok: {n} MPI engines, psum {totals}, clean stop")


if __name__ == "__main__":
    main()
