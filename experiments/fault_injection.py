"""Kill ``dtac reproduce`` with SIGKILL at chosen or random moments, restart it after each kill,
and check that it ends with the same outputs as an uninterrupted run.

    python experiments/fault_injection.py --kills 5 --seed 0          # tiny profile, small preset
    python experiments/fault_injection.py --reference DIR --at 'training TAC@2' --at 'eval@3'

Steps:

1. The reference: ``dtac reproduce --profile tiny --presets small`` run once, uninterrupted, into
   ``OUT/reference`` (its duration measured), or an existing uninterrupted output given by
   ``--reference DIR`` (the ``--out`` folder of that run).
2. Into ``OUT/interrupted`` (empty, or a copy of ``--start-from DIR``, an unfinished output):
   the same command, killed with SIGKILL (the whole process group) at
   each kill point, then started again; after the last kill it runs to the end.
3. The outputs are compared (see :func:`compare`) and one line per kill point is printed, then
   the verdict. Exit code 0 only if every compared output is identical.

Kill points. ``--kills N --seed S`` draws N moments uniformly over the reference run's measured
work (from its first line of output to its end), sorted. Each moment is a place in the
reproduction: the reference's last progress marker before it (a figure's header ``== [i/n]``,
a stage starting to run, the report) and the seconds since that marker. Attempt k is killed
that many seconds after it reaches moment k's marker, or a later one (a stage that an earlier
attempt finished is not run again, so its marker never comes). The kills so fall all through
the reproduction, in order, whatever a restart costs. ``--at SPEC`` (repeatable) gives the
kill points instead: ``SECONDS`` after the attempt's first line of output, or
``REGEX@SECONDS`` after its first output line that matches ``REGEX``. An attempt that finishes
before its kill point is reported as such; the next one then reruns the finished folder
(every stage cached, figures and report written again) and is killed in that rerun.

"Same outputs" (:func:`compare`):

* byte for byte: ``data/*`` (CSVs and the plotted series), ``table*.md``, ``table*.csv``,
  ``sections/*.json``, the figures ``*.png`` and ``profile.json``;
* ``REPORT.md`` byte for byte once its two run-dependent fields are masked: the "Generated
  <date> on <host>" line's date and host, and "Stage wall times add up to N s";
* ``runs/*/*/metrics.jsonl``: the same rows, each without its ``wall_s`` field;
* ``stages/*.json``: the same stages, each with the same result once its ``wall_s`` and
  ``finished`` (times) are dropped and the output folder's path is replaced by a placeholder
  (a stage's configuration holds the finish times of the stages it depends on, so it is not
  compared).

Only the files the interrupted run writes are compared against the reference; a reference
holding more files (figures made by other calls) still passes if these match.

The children inherit the environment: ``XLA_FLAGS`` (the compile level changes round-off, so
both runs must share it) and ``DTAC_JAX_CACHE`` (the persistent compilation cache; ``--cache``
sets it), so a restarted child loads its programs instead of compiling them again.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BYTE_EQUAL = ("data/*", "table*.md", "table*.csv", "sections/*.json", "*.png", "profile.json")
REPORT_MASKS = ((re.compile(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d on .*? \("),
                 "Generated <date> on <host> ("),
                (re.compile(r"Stage wall times add up to \d+ s"),
                 "Stage wall times add up to <N> s"))


# ---------------------------------------------------------------------- running a child
@dataclass
class Attempt:
    """One child process: its output lines with the time each came, and how it ended."""

    lines: list = field(default_factory=list)      # (seconds since start, stdout line)
    errors: list = field(default_factory=list)     # stderr lines
    started: float = 0.0                           # time of the first output line (clock zero)
    killed_at: float | None = None                 # seconds after ``started``
    returncode: int | None = None
    wall: float = 0.0

    def last_line(self) -> str:
        return self.lines[-1][1] if self.lines else "(no output yet)"

    def tail(self, n: int = 20) -> str:
        return "\n".join([ln for _, ln in self.lines[-n:]] + self.errors[-n:])


def command(args, out: Path) -> list[str]:
    return [sys.executable, "-u", "-m", "dtac_jax.cli", "reproduce", "--profile", args.profile,
            "--presets", args.presets, "--out", str(out), "--no-progress"]


def run_child(args, out: Path, kill_after=None, anchor_at=None, log=print) -> Attempt:
    """Run ``dtac reproduce`` into ``out``. With ``kill_after`` seconds, SIGKILL its process
    group that long after its first output line for which ``anchor_at(line)`` is true (default:
    its first output line)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.cache:
        env["DTAC_JAX_CACHE"] = str(args.cache)
    t_start = time.time()
    proc = subprocess.Popen(command(args, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    att = Attempt()

    def read():   # the pipeline's log (stdout)
        for line in proc.stdout:
            lines.put((time.time(), line.rstrip("\n")))
        lines.put(None)

    def read_errors():   # warnings, repairs reported by the run folders, errors
        for line in proc.stderr:
            att.errors.append(line.rstrip("\n"))
            if args.verbose:
                log(f"      ! {line.rstrip()}")

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=read_errors, daemon=True).start()
    anchor = None           # the time from which kill_after counts
    done = False
    while True:
        deadline = None if kill_after is None or anchor is None else anchor + kill_after
        timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.time()))
        try:
            item = lines.get(timeout=timeout)
        except queue.Empty:
            item = ()
        if item is None:
            done = True
        elif item:
            t, line = item
            att.lines.append((t - t_start, line))
            if not att.started:
                att.started = t - t_start
            if anchor is None and (anchor_at is None or anchor_at(line)):
                anchor = t
            if args.verbose:
                log(f"      | {line}")
        if deadline is not None and time.time() >= deadline and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            att.killed_at = time.time() - t_start - att.started
            proc.wait()
            break
        if done:
            break
        if time.time() - t_start > args.timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SystemExit(f"fault_injection: a child ran over --timeout {args.timeout} s")
    att.returncode = proc.wait()
    att.wall = time.time() - t_start
    return att


# ---------------------------------------------------------------------- comparing outputs
def _metrics(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row.pop("wall_s", None)
            rows.append(row)
    return rows


def _stage(path: Path, root: Path) -> dict:
    """A stage record's result without its times, the paths in it relative to ``root`` (the
    profile folder, which the paths name by its absolute or relative path)."""
    result = dict(json.loads(path.read_text())["result"])
    result.pop("wall_s", None)
    result.pop("finished", None)
    within = re.compile(rf"^.*?/{re.escape(root.name)}/")
    return {k: within.sub("<root>/", v) if isinstance(v, str) else v for k, v in result.items()}


def _report(path: Path) -> str:
    text = path.read_text()
    for rx, mask in REPORT_MASKS:
        text = rx.sub(mask, text)
    return text


def compare(ref: Path, got: Path) -> tuple[int, list[str]]:
    """Compare the profile folders ``ref`` and ``got`` (``<out>/<profile>``) as the module's
    doc says; returns ``(files compared, differences)``."""
    diffs, n = [], 0
    rel = sorted({p.relative_to(got).as_posix() for pat in BYTE_EQUAL for p in got.glob(pat)
                  if p.is_file() and not p.name.startswith(".")})
    for r in rel:
        n += 1
        if not (ref / r).is_file():
            diffs.append(f"{r}: not in the reference")
        elif (ref / r).read_bytes() != (got / r).read_bytes():
            diffs.append(f"{r}: differs")
    n += 1
    if not (got / "REPORT.md").is_file():
        diffs.append("REPORT.md: missing")
    elif _report(ref / "REPORT.md") != _report(got / "REPORT.md"):
        diffs.append("REPORT.md: differs (timing fields masked)")
    for p in sorted(got.glob("runs/*/*/metrics.jsonl")):
        n += 1
        r = p.relative_to(got).as_posix()
        if not (ref / r).is_file():
            diffs.append(f"{r}: not in the reference")
        elif _metrics(ref / r) != _metrics(p):
            diffs.append(f"{r}: rows differ (wall_s left out)")
    for p in sorted(got.glob("stages/*.json")):
        n += 1
        r = p.relative_to(got).as_posix()
        if not (ref / r).is_file():
            diffs.append(f"{r}: not in the reference")
        elif _stage(ref / r, ref) != _stage(p, got):
            diffs.append(f"{r}: result differs")
    return n, diffs


def leftovers(root: Path) -> str:
    """What a kill left in the folder: temporary files and unfinished checkpoints."""
    tmp = [p for p in root.rglob("*.tmp") if p.is_file()]
    ckpt = [p for p in root.rglob("*orbax-checkpoint-tmp*") if p.is_dir()]
    parts = ([f"{len(tmp)} temporary file(s)"] if tmp else []) + (
        [f"{len(ckpt)} unfinished checkpoint(s)"] if ckpt else [])
    return ", ".join(parts) or "nothing unfinished"


# ---------------------------------------------------------------------- main
def parse_at(spec: str) -> tuple[str | None, float]:
    pattern, at, secs = spec.rpartition("@")
    if not at:
        return None, float(spec)
    return pattern, float(secs or 0)


MARKER = re.compile(r"^(== \[\d+/\d+\])|^\[\d\d:\d\d\] (\S+): running$|^(report): ")


def marker(line: str) -> str | None:
    """The progress marker a log line is, or None: a figure's header (``== [i/n]``), a stage
    that starts running, or the report."""
    m = MARKER.match(line)
    return next(g for g in m.groups() if g) if m else None


def plan_random(ref_lines, duration: float, kills: int, seed: int):
    """``kills`` moments drawn uniformly over ``duration`` seconds of the reference's work,
    sorted, each as ``(moment, marker, index, seconds after it)``: the reference's last
    progress marker at that moment and the time since it (``ref_lines``: ``(seconds, line)``
    from the reference's first line)."""
    marks = [(t, marker(ln)) for t, ln in ref_lines if marker(ln)]
    rng = random.Random(seed)
    out = []
    for m in sorted(rng.uniform(0, duration) for _ in range(kills)):
        i = max(j for j, (t, _) in enumerate(marks) if t <= m) if marks[0][0] <= m else 0
        out.append((m, marks[i][1], i, max(0.0, m - marks[i][0])))
    return out, [k for _, k in marks]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=5, help="random kill points (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random kill points")
    ap.add_argument("--at", action="append", default=[], metavar="SPEC",
                    help="a kill point instead of random ones: SECONDS after the attempt's "
                         "first output line, or REGEX@SECONDS after its first line matching "
                         "REGEX (repeatable, in order)")
    ap.add_argument("--reference", type=Path, default=None,
                    help="an existing uninterrupted output (its --out folder) to compare with")
    ap.add_argument("--start-from", type=Path, default=None, metavar="DIR",
                    help="start the interrupted run from a copy of DIR (an unfinished output, "
                         "its --out folder) instead of an empty folder")
    ap.add_argument("--out", type=Path, default=Path("results/fault_injection"),
                    help="working folder (its reference/ and interrupted/ are replaced)")
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--presets", default="small")
    ap.add_argument("--cache", type=Path, default=None,
                    help="DTAC_JAX_CACHE for the children (default: inherited)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child at most")
    ap.add_argument("--verbose", action="store_true", help="echo the children's output")
    args = ap.parse_args(argv)
    if args.kills < 1 and not args.at:
        ap.error("--kills must be >= 1")

    def log(msg):
        print(msg, flush=True)

    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.reference is None:
        ref_out = args.out / "reference"
        shutil.rmtree(ref_out, ignore_errors=True)
        log(f"[{time.time() - t0:6.1f} s] reference: uninterrupted run -> {ref_out}")
        ref = run_child(args, ref_out, log=log)
        if ref.returncode != 0:
            log(ref.tail())
            log(f"VERDICT: the reference run failed (exit code {ref.returncode})")
            return 1
        duration = ref.wall - ref.started
        log(f"[{time.time() - t0:6.1f} s] reference done: {duration:.1f} s of work "
            f"({ref.wall:.1f} s with start-up)")
    else:
        ref_out = args.reference
        if not (ref_out / args.profile / "REPORT.md").is_file():
            ap.error(f"--reference {ref_out}: no {args.profile}/REPORT.md there")
        if not args.at:
            ap.error("random kill points are placed on the reference run's time line: leave "
                     "out --reference, or give --at")

    if args.at:
        plan = []
        for spec in args.at:
            pattern, secs = parse_at(spec)
            anchor = None if pattern is None else (lambda ln, p=pattern: re.search(p, ln))
            where = f"/{pattern}/" if pattern else "its first output"
            plan.append((anchor, secs, f"{secs:.1f} s after {where}"))
        log(f"kill points: {', '.join(args.at)}")
    else:
        lines = [(t - ref.started, ln) for t, ln in ref.lines]
        targets, keys = plan_random(lines, duration, args.kills, args.seed)
        index = {k: i for i, k in enumerate(keys)}

        def reached(i):
            return lambda ln: marker(ln) is not None and index.get(marker(ln), -1) >= i

        plan = [(reached(i), delta, f"{delta:.1f} s after {key!r} (the reference's "
                 f"{m:.1f} s)") for m, key, i, delta in targets]
        log(f"kill points (seed {args.seed}, over {duration:.1f} s of the reference's work): "
            + ", ".join(f"{m:.1f} s" for m, *_ in targets))

    got_out = args.out / "interrupted"
    shutil.rmtree(got_out, ignore_errors=True)
    if args.start_from is not None:
        shutil.copytree(args.start_from, got_out)
        log(f"interrupted run starts from a copy of {args.start_from}")
    root = got_out / args.profile
    results = []
    for k, (anchor, secs, where) in enumerate(plan, 1):
        log(f"[{time.time() - t0:6.1f} s] kill {k}/{len(plan)}: attempt {k}, SIGKILL {where}")
        att = run_child(args, got_out, kill_after=secs, anchor_at=anchor, log=log)
        if att.killed_at is None:
            status = (f"finished before the kill (exit code {att.returncode}, "
                      f"{att.wall - att.started:.1f} s of work)")
            if att.returncode != 0:
                log(att.tail())
                log(f"VERDICT: attempt {k} failed (exit code {att.returncode})")
                return 1
        else:
            status = (f"killed {att.killed_at:.1f} s into attempt {k}, during: "
                      f"{att.last_line().strip()[:80]!r}; left "
                      f"{leftovers(root) if root.exists() else 'no folder yet'}")
        results.append(status)
        log(f"    kill point {k}: {status}")
    log(f"[{time.time() - t0:6.1f} s] final attempt: run to the end")
    att = run_child(args, got_out, log=log)
    if att.returncode != 0:
        log(att.tail())
        log(f"VERDICT: the final attempt failed (exit code {att.returncode})")
        return 1
    log(f"    final attempt finished: {att.wall - att.started:.1f} s of work; "
        f"{sum(1 for _, ln in att.lines if ln.endswith(': cached'))} cached stage lines, "
        f"{sum(1 for _, ln in att.lines if ln.endswith(': running'))} stages run")
    n, diffs = compare(ref_out / args.profile, root)
    for k, status in enumerate(results, 1):
        log(f"kill {k}: {status}")
    for d in diffs:
        log(f"  difference: {d}")
    if diffs:
        log(f"VERDICT: DIFFERENT after {len(plan)} kill(s): {len(diffs)} of {n} outputs differ "
            f"({time.time() - t0:.0f} s)")
        return 1
    log(f"VERDICT: identical: {n} outputs equal to the uninterrupted run's after {len(plan)} "
        f"kill(s) ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
