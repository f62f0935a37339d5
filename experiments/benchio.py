"""Shared pieces of the benchmark scripts: comma-separated choices, Markdown tables, and the
output (print the Markdown, write JSON and Markdown)."""
import json
import sys
from pathlib import Path


def choices(prog: str, what: str, text: str, known) -> list[str]:
    """The items of the comma-separated ``text``; an unknown one ends the script with one
    line naming it and the known ones, exit code 2."""
    items = [v for v in text.split(",") if v]
    bad = [v for v in items if v not in known]
    if bad:
        print(f"{prog}: error: unknown {what}(s) {', '.join(bad)} (known: {', '.join(known)})",
              file=sys.stderr)
        raise SystemExit(2)
    return items


def table(columns: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> str:
    """A Markdown table; the columns whose indices are in ``right`` are right-aligned."""
    rule = ["---:" if i in right else "---" for i in range(len(columns))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [columns, rule, *rows])


def spread(values) -> str:
    """``mean ± std (v1, v2, ...)`` of per-seed values."""
    import numpy as np
    v = np.asarray(values, float)
    return f"{v.mean():.2f} ± {v.std():.2f} ({', '.join(f'{x:.1f}' for x in v)})"


def save_report(report: dict, md: str, out, title: str):
    print()
    print(md)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(f"# {title}\n\n{md}\n")
    print(f"\nwrote {out} and {out.with_suffix('.md')}")
