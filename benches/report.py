#!/usr/bin/env python3
"""Table and plot of a benches/run.sh run (standard library only).

    benches/report.py RESULTS [--plot FILE.svg] [--elapsed S] [--quick] [--markdown]

RESULTS has lines "LIB REP RESULT TEST np=N size=B value=V unit=U iters=I".
Prints one table: the median of each library per figure, the ratio
rmpi / faster peer (for times lower is better, for bandwidths higher is
better), the goal from the issues (6: performance, 4: collectives) and
whether it is met; then the physical floor and how close rmpi gets.
"""
import argparse
import collections
import math
import statistics
import sys

LIBS = ["rmpi", "mpich", "openmpi"]
NAMES = {"rmpi": "rmpi", "mpich": "MPICH", "openmpi": "Open MPI"}
COLORS = {"rmpi": "#d62728", "mpich": "#1f77b4", "openmpi": "#2ca02c"}


def load(path):
    data = collections.defaultdict(lambda: collections.defaultdict(list))
    units = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4 or parts[2] != "RESULT":
                continue
            lib, test = parts[0], parts[3]
            kv = dict(p.split("=", 1) for p in parts[4:] if "=" in p)
            key = (test, int(kv["np"]), int(float(kv["size"])))
            data[key][lib].append(float(kv["value"]))
            units[key] = kv["unit"]
    return data, units


def med(values):
    return statistics.median(values) if values else None


def human(size):
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


def fmt(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def goal_of(test, np, size):
    """(comparison, bound, against) from issues 6 and 4, or None."""
    if test == "lat" and np == 2 and size <= 64:
        return ("<=", 1.0, "peer")
    if test == "bw" and np == 2 and 65536 <= size:
        return (">=", 1.0, "peer")
    if test == "py_pingpong" and size <= 64:
        return ("<=", 1.0, "peer")
    if test == "blocked":
        return ("<", 0.05, "abs")
    if test == "launch" and np == 8:
        return ("<=", 0.5, "mpich")
    if test in ("allreduce", "bcast", "barrier", "alltoall"):
        if np == 2:
            return ("<=", 1.0, "peer")
        if test in ("barrier", "allreduce", "bcast"):
            return ("<=", 0.5, "peer")
        return ("<=", 1.0, "peer")
    if test == "tcp_lat" and size <= 64:
        return ("<=", 1.0, "peer")
    if test == "tcp_bw" and 65536 <= size:
        return (">=", 1.0, "peer")
    return None


SECTIONS = [
    ("point to point, shared memory, np=2", ["lat", "bw", "bibw"]),
    ("collectives (time per call)", ["allreduce", "bcast", "barrier", "alltoall"]),
    ("mpi4py.bench pingpong (stock mpi4py wheel)", ["py_pingpong"]),
    ("launch: hello world wall time", ["launch"]),
    ("CPU of a rank blocked in MPI_Recv", ["blocked"]),
    ("TCP between two network namespaces, np=2", ["tcp_lat", "tcp_bw"]),
]
LABEL = {
    "lat": "latency",
    "bw": "bandwidth",
    "bibw": "bidir bandwidth",
    "py_pingpong": "pingpong",
    "launch": "launch",
    "blocked": "blocked",
    "tcp_lat": "tcp latency",
    "tcp_bw": "tcp bandwidth",
}


def table(data, units, markdown):
    rows, verdicts = [], []
    for title, tests in SECTIONS:
        keys = sorted(
            (k for k in data if k[0] in tests),
            key=lambda k: (tests.index(k[0]), k[1], k[2]) if k[0] not in ("allreduce", "bcast", "barrier", "alltoall")
            else (k[1], tests.index(k[0]), k[2]),
        )
        if not keys:
            continue
        rows.append(("section", title))
        for key in keys:
            test, np, size = key
            unit = units[key]
            m = {lib: med(data[key].get(lib, [])) for lib in LIBS}
            higher_better = unit == "MBps"
            peers = [m[p] for p in ("mpich", "openmpi") if m[p] is not None]
            ratio = None
            if m["rmpi"] is not None and peers:
                best = max(peers) if higher_better else min(peers)
                if best > 0:
                    ratio = m["rmpi"] / best
            goal = goal_of(test, np, size)
            goal_s, met = "", ""
            if goal and m["rmpi"] is not None:
                cmp_, bound, against = goal
                if against == "abs":
                    value = m["rmpi"]
                    goal_s = f"{cmp_} {bound} s"
                elif against == "mpich":
                    value = m["rmpi"] / m["mpich"] if m["mpich"] else None
                    goal_s = f"{cmp_} {bound} of MPICH"
                else:
                    value = ratio
                    goal_s = f"{cmp_} {bound}"
                if value is not None:
                    ok = {"<=": value <= bound, ">=": value >= bound, "<": value < bound}[cmp_]
                    met = "met" if ok else "MISSED"
                    verdicts.append((key, ok))
            what = LABEL.get(test, test)
            size_s = "" if test in ("barrier", "launch", "blocked") else human(size)
            if test == "blocked":
                size_s = f"{size} s"
            rows.append(("row", what, np, size_s, unit, m, ratio, goal_s, met))
    out = []
    if markdown:
        out.append("| figure | np | size | unit | rmpi | MPICH | Open MPI | rmpi / faster peer | goal | |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            if r[0] == "section":
                out.append(f"| **{r[1]}** | | | | | | | | | |")
            else:
                _, what, np, size_s, unit, m, ratio, goal_s, met = r
                out.append(
                    f"| {what} | {np} | {size_s} | {unit} | {fmt(m['rmpi'])} | {fmt(m['mpich'])} | "
                    f"{fmt(m['openmpi'])} | {fmt(ratio)} | {goal_s} | {met} |"
                )
    else:
        head = f"{'figure':16} {'np':>2} {'size':>7} {'unit':>5} {'rmpi':>9} {'MPICH':>9} {'Open MPI':>9} {'ratio':>7}  goal"
        out.append(head)
        for r in rows:
            if r[0] == "section":
                out.append(f"-- {r[1]}")
            else:
                _, what, np, size_s, unit, m, ratio, goal_s, met = r
                out.append(
                    f"{what:16} {np:>2} {size_s:>7} {unit:>5} {fmt(m['rmpi']):>9} {fmt(m['mpich']):>9} "
                    f"{fmt(m['openmpi']):>9} {fmt(ratio):>7}  {goal_s} {met}".rstrip()
                )
    return out, verdicts


def floor_lines(data):
    out = []
    h = med(data.get(("floor_handoff", 1, 64), {}).get("floor", []))
    c = med(data.get(("floor_memcpy", 1, 4194304), {}).get("floor", []))
    c64 = med(data.get(("floor_memcpy", 1, 65536), {}).get("floor", []))
    lat0 = med(data.get(("lat", 2, 0), {}).get("rmpi", []))
    lat8 = med(data.get(("lat", 2, 8), {}).get("rmpi", []))
    bw4 = med(data.get(("bw", 2, 4194304), {}).get("rmpi", []))
    if h:
        out.append(f"floor: one-way cache-line handoff between the two cores {h:.3f} us")
        for size, lat in ((0, lat0), (8, lat8)):
            if lat:
                out.append(f"       rmpi latency at {size} B is {lat:.3f} us = {lat / h:.1f} handoffs")
    if c:
        out.append(f"floor: single-thread memcpy {c:.0f} MB/s at 4 MiB" + (f", {c64:.0f} MB/s at 64 KiB" if c64 else ""))
        if bw4:
            out.append(f"       rmpi bandwidth at 4 MiB is {bw4:.0f} MB/s = {bw4 / c:.2f} of memcpy")
    return out


# ---------------------------------------------------------------- plot (hand-written SVG)
def svg_plot(data, path):
    panels = [
        ("lat", "latency, np=2 shared memory (us, lower is better)", "us"),
        ("bw", "bandwidth, np=2 shared memory (MB/s, higher is better)", "MBps"),
    ]
    W, H = 1100, 460
    pw, ph = 440, 330
    origins = [(80, 60), (620, 60)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
    ]
    floors = {
        "lat": med(data.get(("floor_handoff", 1, 64), {}).get("floor", [])),
        "bw": med(data.get(("floor_memcpy", 1, 4194304), {}).get("floor", [])),
    }
    for (test, title, _unit), (ox, oy) in zip(panels, origins):
        series = {}
        for lib in LIBS:
            pts = sorted(
                (k[2], med(v[lib])) for k, v in data.items() if k[0] == test and k[1] == 2 and k[2] > 0 and v.get(lib)
            )
            if pts:
                series[lib] = pts
        parts.append(f'<text x="{ox + pw / 2}" y="{oy - 20}" text-anchor="middle" font-size="14">{title}</text>')
        parts.append(f'<rect x="{ox}" y="{oy}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        if not series:
            parts.append(f'<text x="{ox + pw / 2}" y="{oy + ph / 2}" text-anchor="middle">no data</text>')
            continue
        xs = [s for pts in series.values() for s, _ in pts]
        ys = [v for pts in series.values() for _, v in pts if v > 0]
        if floors[test]:
            ys.append(floors[test])
        x0, x1 = math.log2(min(xs)), math.log2(max(xs))
        y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y1 = y0 + 1

        def X(s):
            return ox + (math.log2(s) - x0) / (x1 - x0) * pw

        def Y(v):
            return oy + ph - (math.log10(v) - y0) / (y1 - y0) * ph

        for e in range(int(y0), int(y1) + 1):
            y = Y(10**e)
            parts.append(f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + pw}" y2="{y:.1f}" stroke="#ddd"/>')
            label = f"{10**e:g}" if -3 <= e <= 5 else f"1e{e}"
            parts.append(f'<text x="{ox - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        for e in range(int(x0), int(x1) + 1, 2):
            x = X(2**e)
            parts.append(f'<line x1="{x:.1f}" y1="{oy}" x2="{x:.1f}" y2="{oy + ph}" stroke="#eee"/>')
            if (e - int(x0)) % 4 == 0:
                parts.append(
                    f'<text x="{x:.1f}" y="{oy + ph + 16}" text-anchor="middle">{human(2**e).replace(" ", "")}</text>'
                )
        parts.append(f'<text x="{ox + pw / 2}" y="{oy + ph + 36}" text-anchor="middle">message size</text>')
        if floors[test]:
            y = Y(floors[test])
            what = "cache-line handoff" if test == "lat" else "memcpy 4 MiB"
            parts.append(
                f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + pw}" y2="{y:.1f}" stroke="#888" stroke-dasharray="6,4"/>'
            )
            parts.append(f'<text x="{ox + 6}" y="{y - 5:.1f}" fill="#666">floor: {what}</text>')
        for lib, pts in series.items():
            d = " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v in pts if v > 0)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{COLORS[lib]}" stroke-width="2"/>')
            for s, v in pts:
                if v > 0:
                    parts.append(f'<circle cx="{X(s):.1f}" cy="{Y(v):.1f}" r="2.5" fill="{COLORS[lib]}"/>')
    for i, lib in enumerate(LIBS):
        x = 80 + i * 140
        parts.append(f'<line x1="{x}" y1="{H - 20}" x2="{x + 24}" y2="{H - 20}" stroke="{COLORS[lib]}" stroke-width="3"/>')
        parts.append(f'<text x="{x + 30}" y="{H - 16}">{NAMES[lib]}</text>')
    parts.append(
        f'<text x="{W - 20}" y="{H - 16}" text-anchor="end" fill="#666">medians; benches/run.sh (make bench)</text>'
    )
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def tcp_lines(path):
    """The TCP section's settings (TCPSET) and proof (TCPVETH) lines, summarised."""
    settings, runs = {}, collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue
            if parts[2] == "TCPSET":
                settings[parts[0]] = " ".join(parts[3:])
            elif parts[2] == "TCPVETH":
                runs[parts[0]].append(dict(p.split("=", 1) for p in parts[3:] if "=" in p))
    if not settings and not runs:
        return []
    out = ["TCP section: settings, and the bytes that crossed the veth (mpi0, A->B / B->A) against the payload"]
    for lib in LIBS:
        if lib in settings:
            out.append(f"  {NAMES[lib]:9} {settings[lib]}")
    for lib in LIBS:
        for r in runs.get(lib, []):
            ab, pab = int(r["a2b"]), int(r["payload_a2b"])
            out.append(
                f"  {NAMES[lib]:9} {ab / 1e6:9.1f} MB / {int(r['b2a']) / 1e6:7.1f} MB over {r['dev']}; payload "
                f"{pab / 1e6:9.1f} MB / {int(r['payload_b2a']) / 1e6:7.1f} MB"
                + (f" (x{ab / pab:.2f})" if pab else "")
                + ("" if r["crossed"] == "yes" else "  NOT OVER THE VETH: figures dropped")
            )
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--plot")
    ap.add_argument("--elapsed", type=float)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--versions", help="file of 'LIB version' lines")
    a = ap.parse_args()
    data, units = load(a.results)
    if not data:
        print("report.py: no results", file=sys.stderr)
        return 1
    if a.versions:
        try:
            with open(a.versions) as f:
                for line in f:
                    lib, _, version = line.strip().partition(" ")
                    print(f"{NAMES.get(lib, lib):9} {version}")
        except OSError:
            pass
        print()
    lines, verdicts = table(data, units, a.markdown)
    print("\n".join(lines))
    print()
    for line in floor_lines(data):
        print(line)
    tcp = tcp_lines(a.results)
    if tcp:
        print("\n".join(tcp))
        print()
    met = sum(1 for _, ok in verdicts if ok)
    print(f"goals: {met} of {len(verdicts)} met" + (" (quick mode: short loops, one repetition)" if a.quick else ""))
    if a.elapsed is not None:
        print(f"run time: {a.elapsed:.0f} s")
    if a.plot:
        svg_plot(data, a.plot)
        print(f"plot: {a.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
