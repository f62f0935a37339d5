"""Shared output of the benchmark scripts: print the Markdown, write JSON and Markdown."""
import json
from pathlib import Path


def save_report(report: dict, md: str, out, title: str):
    print()
    print(md)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(f"# {title}\n\n{md}\n")
    print(f"\nwrote {out} and {out.with_suffix('.md')}")
