"""Run mpi4py's own test suite (the test/ folder of its source distribution)
against the INSTALLED mpi4py, recording every test's outcome per rank, and
summarize such runs.

    # every rank, under a launcher:
    mpiexec -n 2 python mpi4py_suite.py run --testdir SRC/test --out OUT [-- ARGS]
    # afterwards, once:
    python mpi4py_suite.py summary OUT --np 2 [--json]
    # one np of a baseline file:
    python mpi4py_suite.py baseline FILE --np 2
    # passes per test module against a baseline file:
    python mpi4py_suite.py modules OUT --np 2 --baseline FILE

`run` imports mpi4py's test runner (test/main.py) with `--no-builddir`, so
the mpi4py package comes from site-packages, never from the source tree; it
checks that and fails otherwise. Each rank appends to OUT/rank-R.log as it
goes ("start ID", "result ID OUTCOME", "why ID EXCEPTION" for failures and
errors, finally "done"), so a run that
crashes or hangs still tells which test each rank was in.

`summary` merges the ranks: a test counts once, with the worst outcome any
rank gave it (error > failed > passed > skipped; skipped only if every rank
skipped it). A rank that did not write "done" makes the run incomplete and
the test it was in counts as an error. It prints one line:

    np=2 passed=2050 failed=8 errors=0 skipped=160 complete=yes ranks=2/2

and, with --json, a JSON object instead (with the failing test ids).
"""

import argparse
import json
import os
import pathlib
import sys
import traceback
import unittest

RANK_OF = {"error": 3, "failed": 2, "passed": 1, "skipped": 0}


class _Log:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, *words):
        self.f.write(" ".join(words) + "\n")
        self.f.flush()


def _test_id(test):
    # Errors in setUpClass / setUpModule come as _ErrorHolder objects.
    try:
        return test.id()
    except Exception:
        return str(test)


def _make_result_class(log):
    class RecordingResult(unittest.TextTestResult):
        def _rec(self, test, outcome, err=None):
            tid = _test_id(test).replace(" ", "_")
            log.write("result", tid, outcome)
            if err is not None:
                # The exception's own line, e.g. "mpi4py.MPI.Exception: MPI_ERR_TYPE: invalid datatype".
                try:
                    what = "".join(traceback.format_exception_only(err[0], err[1])).strip().replace("\n", " | ")
                except Exception:
                    what = repr(err[1])
                log.write("why", tid, what[:500])

        def startTest(self, test):
            log.write("start", _test_id(test).replace(" ", "_"))
            super().startTest(test)

        def addSuccess(self, test):
            super().addSuccess(test)
            self._rec(test, "passed")

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._rec(test, "failed", err)

        def addError(self, test, err):
            super().addError(test, err)
            self._rec(test, "error", err)

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self._rec(test, "skipped")

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            self._rec(test, "passed")

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._rec(test, "failed")

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                failed = issubclass(err[0], test.failureException)
                # Recorded under the test's own id: one outcome per test method.
                self._rec(test, "failed" if failed else "error", err)

    return RecordingResult


def cmd_run(args, extra):
    testdir = pathlib.Path(args.testdir).resolve()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rank = os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or "0"
    log = _Log(out / f"rank-{rank}.log")
    log.write("begin", f"pid={os.getpid()}")

    sys.path.insert(0, str(testdir))
    sys.dont_write_bytecode = True
    import main as suite_main  # mpi4py's test/main.py

    import mpi4py

    pkg = pathlib.Path(mpi4py.__file__).resolve()
    if testdir.parent in pkg.parents:
        log.write("abort", f"mpi4py imported from the source tree: {pkg}")
        sys.exit(f"mpi4py_suite: mpi4py was imported from the source tree ({pkg}), not the installed wheel")
    log.write("mpi4py", str(pkg.parent))

    class Runner(unittest.TextTestRunner):
        resultclass = _make_result_class(log)

    argv = ["runtests.py", "--no-builddir", *extra]
    prog = None
    try:
        prog = suite_main.TestProgram(module=None, argv=argv, testRunner=Runner, exit=False)
    except SystemExit:
        # main.TestProgram.runTests ends with sys.exit(not success).
        pass
    log.write("done")


def _read_rank(path):
    results = {}
    current = None
    done = False
    aborted = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split(" ")
        if words[0] == "start" and len(words) >= 2:
            current = words[1]
            results.setdefault(current, None)
        elif words[0] == "result" and len(words) >= 3:
            tid, outcome = words[1], words[2]
            prev = results.get(tid)
            if prev is None or RANK_OF[outcome] > RANK_OF[prev]:
                results[tid] = outcome
            if tid == current:
                current = tid  # still the current test until the next start
        elif words[0] == "done":
            done = True
        elif words[0] == "abort":
            aborted = line
    # The test a rank was in when it stopped never finished.
    unfinished = None
    if not done:
        unfinished = current
        if current is not None and results.get(current) is None:
            results[current] = "error"
    # Tests started and then ended with no outcome call count as errors.
    for tid, outcome in results.items():
        if outcome is None:
            results[tid] = "error"
    return results, done, unfinished, aborted


def summarize(out, np):
    out = pathlib.Path(out)
    merged = {}
    per_rank = {}
    ranks_done = 0
    for rank in range(np):
        path = out / f"rank-{rank}.log"
        if not path.exists():
            per_rank[rank] = {"done": False, "unfinished": "(never started)"}
            continue
        results, done, unfinished, aborted = _read_rank(path)
        ranks_done += 1 if done else 0
        per_rank[rank] = {"done": done, "unfinished": unfinished}
        if aborted:
            per_rank[rank]["aborted"] = aborted
        for tid, outcome in results.items():
            prev = merged.get(tid)
            if prev is None:
                merged[tid] = outcome
            elif outcome == "skipped" or prev == "skipped":
                # skipped only where every rank skipped
                merged[tid] = outcome if prev == "skipped" else prev
            elif RANK_OF[outcome] > RANK_OF[prev]:
                merged[tid] = outcome
    counts = {k: 0 for k in ("passed", "failed", "errors", "skipped")}
    key = {"passed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped"}
    by_module = {}
    for tid, outcome in merged.items():
        counts[key[outcome]] += 1
        mod = by_module.setdefault(tid.split(".")[0], {k: 0 for k in counts})
        mod[key[outcome]] += 1
    return {
        "np": np,
        **counts,
        "complete": ranks_done == np,
        "ranks_done": ranks_done,
        "ranks": per_rank,
        "by_module": dict(sorted(by_module.items())),
        "failed_tests": sorted(t for t, o in merged.items() if o == "failed"),
        "error_tests": sorted(t for t, o in merged.items() if o == "error"),
    }


def cmd_summary(args):
    s = summarize(args.out, args.np)
    if args.json:
        print(json.dumps(s, indent=1))
        return
    print(
        f"np={s['np']} passed={s['passed']} failed={s['failed']} errors={s['errors']} "
        f"skipped={s['skipped']} complete={'yes' if s['complete'] else 'no'} "
        f"ranks={s['ranks_done']}/{s['np']}"
    )
    for rank, r in s["ranks"].items():
        if not r["done"]:
            print(f"  rank {rank} did not finish; it was in: {r['unfinished']}")
        if r.get("aborted"):
            print(f"  rank {rank}: {r['aborted']}")


def cmd_baseline(args):
    data = json.loads(pathlib.Path(args.file).read_text(encoding="utf-8"))
    entry = data["runs"][str(args.np)]
    print(
        f"np={args.np} passed={entry['passed']} failed={entry['failed']} "
        f"errors={entry['errors']} skipped={entry['skipped']}"
    )


def cmd_modules(args):
    """Passes per test module, this run against a baseline run (np must match)."""
    s = summarize(args.out, args.np)
    base = json.loads(pathlib.Path(args.baseline).read_text(encoding="utf-8"))["runs"][str(args.np)]
    bm = base.get("by_module", {})
    print(f"{'module':28} {'passed':>7} {'baseline':>8} {'failed':>7} {'errors':>7} {'skipped':>8}")
    for mod in sorted(set(bm) | set(s["by_module"])):
        m = s["by_module"].get(mod, {"passed": 0, "failed": 0, "errors": 0, "skipped": 0})
        b = bm.get(mod, {}).get("passed", 0)
        flag = "  <" if m["passed"] < b else ""
        print(f"{mod:28} {m['passed']:>7} {b:>8} {m['failed']:>7} {m['errors']:>7} {m['skipped']:>8}{flag}")


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--testdir", required=True)
    r.add_argument("--out", required=True)
    s = sub.add_parser("summary")
    s.add_argument("out")
    s.add_argument("--np", type=int, required=True)
    s.add_argument("--json", action="store_true")
    b = sub.add_parser("baseline")
    b.add_argument("file")
    b.add_argument("--np", type=int, required=True)
    d = sub.add_parser("modules")
    d.add_argument("out")
    d.add_argument("--np", type=int, required=True)
    d.add_argument("--baseline", required=True)
    args = p.parse_args(argv)
    if args.cmd == "run":
        cmd_run(args, extra)
    elif args.cmd == "summary":
        cmd_summary(args)
    elif args.cmd == "modules":
        cmd_modules(args)
    else:
        cmd_baseline(args)


if __name__ == "__main__":
    main()
