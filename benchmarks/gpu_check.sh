#!/usr/bin/env bash
# GPU check in one go: the CUDA tests (SAM 1 and SAM 2.1), a profile of one vit_b image
# (float32, bfloat16), the side-by-side benchmark for vit_b and vit_h
# (reference float32 vs samcli float32, bfloat16, bfloat16 encoder + float32 decoder,
# float16) on five scikit-image photos, then SAM 2.1 tiny and large against Meta's
# SAM2AutomaticMaskGenerator (float32 and bfloat16 autocast) at its default 32x32 grid.
# Logs go to $OUT (default benchmarks/out/gpu).
#
#   bash benchmarks/gpu_check.sh                 # from the repository root, on a CUDA machine
#   MODELS= PROFILE_DTYPES= bash benchmarks/gpu_check.sh     # the tests and SAM 2.1 only
#
# Python packages missing on that machine (shapely, pycocotools, the reference packages) can
# come as wheels in .whl/, installed to /tmp/site first. Made where pip has a network, for the
# GPU machine's Python (3.12 here):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     shapely pycocotools segment-anything==1.0 mobilesam-mirror==1.0.0
#   SAM2_BUILD_CUDA=0 pip wheel --no-deps -w .whl sam2==1.1.0 hydra-core==1.3.8 \
#     omegaconf==2.3.1 iopath==0.1.10 antlr4-python3-runtime==4.9.3    # pure Python
# Environment: TEST_TIMEOUT, BENCH_TIMEOUT, SAM2_TIMEOUT (seconds), MODELS, SAM2_MODELS,
# SAM2_IMAGES (empty MODELS or SAM2_MODELS: skip that benchmark), PROFILE_DTYPES (empty: no
# profile), BENCH_ARGS (default --fp16; e.g. "--bf16-decoders bfloat16" for a shorter run).
set -u
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
IMAGES="astronaut coffee chelsea rocket page"

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import torch, numpy, cv2, shapely, pycocotools; print('torch', torch.__version__,
'cuda', torch.version.cuda, 'numpy', numpy.__version__, 'opencv', cv2.__version__,
'shapely', shapely.__version__)"; } 2>&1 | tee "$OUT/env.txt"

timeout "${TEST_TIMEOUT:-120}" python3 -m pytest -q -s -p no:cacheprovider tests/test_cuda.py \
    tests/test_cuda_sam2.py 2>&1 | tee "$OUT/pytest_cuda.txt"

for dtype in ${PROFILE_DTYPES-float32 bfloat16}; do
    timeout 90 python3 benchmarks/profile_automask.py --device cuda --dtype $dtype --top 40 \
        2>&1 | tee "$OUT/profile_vit_b_$dtype.txt"
done

for model in ${MODELS-vit_b vit_h}; do
    timeout "${BENCH_TIMEOUT:-170}" python3 benchmarks/bench_automask.py --device cuda \
        ${BENCH_ARGS---fp16} --model "$model" --images $IMAGES 2>&1 | tee "$OUT/bench_$model.txt"
done

for model in ${SAM2_MODELS-sam2.1_hiera_tiny sam2.1_hiera_large}; do
    timeout "${SAM2_TIMEOUT:-240}" python3 benchmarks/bench_sam2.py --device cuda \
        --models "$model" --images ${SAM2_IMAGES:-chelsea astronaut@2} --points-per-side 32 \
        2>&1 | tee "$OUT/bench_$model.txt"
done
