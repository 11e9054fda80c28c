"""Record the golden outputs: ``python -m tests.golden.record [CASE ...]``.

Run only when an output change is intended; the commit that re-records says why.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.golden.cases import CASES, EXPECTED, run_case, write_checkpoint, write_inputs


def main(names: list[str]) -> None:
    EXPECTED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = write_inputs(tmp / "inputs")
        ckpt = write_checkpoint(tmp / "golden.pt")
        for case in CASES:
            if case.same_as or (names and case.name not in names):
                continue
            work = tmp / "runs" / case.name
            work.mkdir(parents=True)
            got = run_case(case, inputs, ckpt, work)
            (EXPECTED / f"{case.name}.json").write_text(
                json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
            n = len(got["stdout"]) + sum(len(v) if isinstance(v, list) else 1
                                         for v in got["files"].values())
            print(f"{case.name}: exit {got['exit_code']}, {n} items", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
