"""Record the golden outputs: ``python -m tests.golden.record [CASE ...]``.

Run only when an output change is intended; the commit that re-records says why. A run
whose outputs differ from its recording is written only once ``samcli.pipeline.
OUTPUT_REVISION`` is above the revision the recordings were made at: outputs that change
for the same inputs and options must change the manifest hash, or resumed folders would
keep old outputs beside new ones.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from samcli.pipeline import OUTPUT_REVISION
from tests.golden.cases import (CASES, EXPECTED, REVISION_FILE, recorded_revision, run_case,
                                write_checkpoint, write_inputs)
from tests.golden.compare import differences


def main(names: list[str]) -> int:
    EXPECTED.mkdir(exist_ok=True)
    recorded = recorded_revision()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = write_inputs(tmp / "inputs")
        ckpt = write_checkpoint(tmp / "golden.pt")
        runs: dict[str, dict] = {}
        changed: list[str] = []
        for case in CASES:
            if names and case.name not in names:
                continue
            work = tmp / "runs" / case.name
            work.mkdir(parents=True)
            runs[case.name] = got = run_case(case, inputs, ckpt, work)
            path = EXPECTED / f"{case.name}.json"
            if path.exists() and differences(json.loads(path.read_text()), got):
                changed.append(case.name)
        if changed and recorded is not None and OUTPUT_REVISION <= recorded:
            print(f"outputs changed for {', '.join(changed)}: raise samcli.pipeline."
                  f"OUTPUT_REVISION above {recorded} first (nothing written)", file=sys.stderr)
            return 1
        for name, got in runs.items():
            (EXPECTED / f"{name}.json").write_text(
                json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
            n = len(got["stdout"]) + sum(len(v) if isinstance(v, list) else 1
                                         for v in got["files"].values())
            print(f"{name}: exit {got['exit_code']}, {n} items"
                  + (" (changed)" if name in changed else ""), file=sys.stderr)
        REVISION_FILE.write_text(f"{OUTPUT_REVISION}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
