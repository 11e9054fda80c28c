"""Start-up: a fresh process's wall time for the smallest everything-mode job.

    python benchmarks/bench_startup.py --repeats 5

One 64x48 image, 2x2 points, thresholds off, for each model family (vit_b, mobile_sam,
sam2.1_hiera_tiny): ``samcli automask IMG --checkpoint FILE -o DIR`` against the reference
doing the same work from the same file in its own fresh process (import, build from the
checkpoint, one generator call: ``segment_anything``'s, MobileSAM's, ``sam2``'s
``SamAutomaticMaskGenerator``). The checkpoints are the reference builders' random-weight
state dicts in the official layouts (SAM 2: ``{"model": ...}``, video keys included), made
once in a temporary folder. Nearly all of it is import, model build and checkpoint load:
what a user waits for before the first image of any run. Prints the median and the minimum
of ``--repeats`` runs per row, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAMILIES = ("vit_b", "mobile_sam", "sam2.1_hiera_tiny")

_REFERENCE = {
    "vit_b": """
import cv2
from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
sam = sam_model_registry["vit_b"](checkpoint=CKPT)
""",
    "mobile_sam": """
import cv2
from mobile_sam import SamAutomaticMaskGenerator, sam_model_registry
sam = sam_model_registry["vit_t"](checkpoint=CKPT)
""",
    "sam2.1_hiera_tiny": """
import cv2
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator as SamAutomaticMaskGenerator
from sam2.build_sam import build_sam2
sam = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", CKPT, device="cpu")
""",
}
_GENERATE = """
image = cv2.cvtColor(cv2.imread(IMAGE), cv2.COLOR_BGR2RGB)
SamAutomaticMaskGenerator(sam, points_per_side=2, pred_iou_thresh=0,
                          stability_score_thresh=0).generate(image)
"""


def make_inputs(folder: Path) -> tuple[Path, dict[str, Path]]:
    import torch

    from tests.commands.conftest import write_image
    from tests.factories import reference_builder
    from tests.sam2_factories import reference_model

    image = write_image(folder / "in" / "img.png")
    ckpts = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in FAMILIES:
            path = folder / f"{name}.pt"
            if name.startswith("sam2"):
                torch.save({"model": reference_model(name).state_dict()}, path)
            else:
                torch.save(reference_builder(name)().state_dict(), path)
            ckpts[name] = path
    return image, ckpts


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image, ckpts = make_inputs(tmp)
        print("| model | samcli median (min) s | reference median (min) s | reference / samcli |")
        print("|---|---|---|---|")
        for name in FAMILIES:
            ours, ref = [], []
            script = (f"CKPT = {str(ckpts[name])!r}\nIMAGE = {str(image)!r}\n"
                      + _REFERENCE[name] + _GENERATE)
            for k in range(args.repeats):  # interleaved: load drifts hit both alike
                ours.append(_wall([sys.executable, "-m", "samcli", "automask", str(image),
                                   "--checkpoint", str(ckpts[name]), "--points-per-side", "2",
                                   "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
                                   "-q", "-o", str(tmp / f"out-{name}-{k}")]))
                ref.append(_wall([sys.executable, "-c", script]))
            mo, mr = statistics.median(ours), statistics.median(ref)
            print(f"| {name} | {mo:.2f} ({min(ours):.2f}) | {mr:.2f} ({min(ref):.2f}) "
                  f"| {mr / mo:.2f} |")


if __name__ == "__main__":
    main()
