"""The wall time of a reproduction, stage by stage, written as one JSON and Markdown pair.

Reads a reproduction's folder (``results/quick``: each stage's wall time and the code
fingerprint it recorded) and, optionally, the output of ``/usr/bin/time -v`` around the whole
command (``make run`` on a fresh clone: installation included), and writes both files of
``--out`` from them, so the two always come from the same run.

Usage::

    /usr/bin/time -v make run 2> time.log
    python experiments/reproduce_wall.py results/quick --time-log time.log --commit abc1234 \
        [--note "the test suite shared the cores for ..."] [--out benchmarks/reproduce_quick.json]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import save_report, table


def parse_time_log(text: str) -> dict:
    """Wall seconds and peak resident memory from ``/usr/bin/time -v``'s report."""
    out = {}
    m = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", text)
    if m:
        h, mi, s = m.groups()
        out["wall_s"] = round(int(h or 0) * 3600 + int(mi) * 60 + float(s), 1)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["peak_rss_kib"] = int(m.group(1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="reproduce_wall.py", description=__doc__.splitlines()[0])
    ap.add_argument("root", help="a reproduction's folder, e.g. results/quick")
    ap.add_argument("--time-log", default=None, help="/usr/bin/time -v's output")
    ap.add_argument("--commit", required=True, help="the commit the fresh clone was made at")
    ap.add_argument("--note", default="", help="how the machine was shared, if it was")
    ap.add_argument("--out", default="benchmarks/reproduce_quick.json")
    args = ap.parse_args(argv)
    root = Path(args.root)
    stages_dir = root / "stages"
    if not stages_dir.is_dir():
        print(f"reproduce_wall.py: error: no stages/ in {root}", file=sys.stderr)
        return 2
    stages, codes = {}, set()
    for f in sorted(stages_dir.glob("*.json")):
        rec = json.loads(f.read_text())
        stages[f.stem.replace("__", ":")] = rec["result"].get("wall_s")
        codes.add(rec.get("code", "unrecorded"))
    timed = {}
    if args.time_log:
        log = Path(args.time_log)
        if not log.is_file():
            print(f"reproduce_wall.py: error: no time log at {log}", file=sys.stderr)
            return 2
        timed = parse_time_log(log.read_text())
    total = sum(v or 0 for v in stages.values())
    report = dict(commit=args.commit, code=sorted(codes), note=args.note, stages_s=total,
                  stages=stages, **timed)
    head = [f"2-core CPU, no GPU. A fresh clone of commit {args.commit} (code fingerprint "
            f"{', '.join(f'`{c}`' for c in sorted(codes))}) with an **empty XLA compilation "
            "cache** (`DTAC_JAX_CACHE` pointing at a new folder)."]
    if "wall_s" in timed:
        w = timed["wall_s"]
        head.append(f"Total: **{w:.0f} s wall ({int(w // 60)} min {w % 60:.0f} s)** for the "
                    "command timed (installation included for `make run`), measured by "
                    f"`/usr/bin/time`; stage wall times add up to {total:.0f} s."
                    + (f" Peak resident memory {timed['peak_rss_kib'] / 2**20:.1f} GiB."
                       if "peak_rss_kib" in timed else ""))
    else:
        head.append(f"Stage wall times add up to {total:.0f} s.")
    if args.note:
        head.append(args.note)
    md = " ".join(head) + "\n\n" + table(["stage", "wall (s)"],
                                         [[k, f"{v:.1f}"] for k, v in stages.items()],
                                         right=(1,))
    save_report(report, md, args.out, "`dtac reproduce --profile quick` wall time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
