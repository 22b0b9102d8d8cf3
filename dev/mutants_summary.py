"""Caught and missed mutants per file, from cargo-mutants' mutants.out/outcomes.json.

Usage: python3 dev/mutants_summary.py [mutants.out]
Viable mutants are those that built; a mutant is caught when a test failed or timed out.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "mutants.out")
    outcomes = json.loads((out / "outcomes.json").read_text())["outcomes"]
    per_file = defaultdict(lambda: {"caught": 0, "missed": 0, "unviable": 0})
    missed = []
    for o in outcomes:
        scenario = o["scenario"]
        if scenario == "Baseline":
            continue
        mutant = scenario["Mutant"]
        file = mutant["file"]
        summary = o["summary"]
        if summary in ("CaughtMutant", "Timeout"):
            per_file[file]["caught"] += 1
        elif summary == "MissedMutant":
            per_file[file]["missed"] += 1
            missed.append(mutant.get("name") or f"{file}:{mutant['span']['start']['line']}")
        else:
            per_file[file]["unviable"] += 1
    total_caught = total_viable = 0
    print(f"{'file':45} {'caught':>7} {'missed':>7} {'score':>7}")
    for file, c in sorted(per_file.items()):
        viable = c["caught"] + c["missed"]
        total_caught += c["caught"]
        total_viable += viable
        score = f"{100 * c['caught'] / viable:.0f} %" if viable else "-"
        print(f"{file:45} {c['caught']:>7} {c['missed']:>7} {score:>7}")
    if total_viable:
        print(f"{'all':45} {total_caught:>7} {total_viable - total_caught:>7} {100 * total_caught / total_viable:>6.0f} %")
    if missed:
        print("\nmissed:")
        print("\n".join(missed))


if __name__ == "__main__":
    main()
