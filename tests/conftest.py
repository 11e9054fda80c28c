"""Session-scoped fixtures: each model pair is built, and each image encoded, once per run.

Models have seeded random weights (see :mod:`tests.factories`); the reference packages are
imported lazily, only by the fixtures that need them.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from tests import encoder_memo

#: The end-to-end tests whose image-encoder passes go through :mod:`tests.encoder_memo` (paths
#: relative to the repository; a folder takes every module under it). Parity, precision,
#: memory and thread tests are not here: they compute every pass.
ENCODER_MEMO_TESTS = ("tests/commands/", "tests/test_api.py", "tests/test_golden.py",
                      "tests/test_readme.py", "tests/test_jobs.py")


def pytest_collection_modifyitems(config, items):
    root = str(config.rootpath) + os.sep
    for item in items:
        where = str(item.path).removeprefix(root).replace(os.sep, "/")
        if where.startswith(ENCODER_MEMO_TESTS):
            item.add_marker(pytest.mark.encoder_memo)


_MEMO = encoder_memo.EncoderMemo()


@pytest.fixture(autouse=True)
def _encoder_memo(request):
    """Routes the image encoders through the session's memo for tests marked
    ``encoder_memo`` and not ``no_encoder_memo`` (see :mod:`tests.encoder_memo`)."""
    node = request.node
    if (encoder_memo.enabled() and node.get_closest_marker("encoder_memo")
            and not node.get_closest_marker("no_encoder_memo")):
        with pytest.MonkeyPatch.context() as mp:
            encoder_memo.install(_MEMO, mp)
            yield
    else:
        yield


@pytest.fixture(scope="module")
def one_thread():
    """The module runs the model on one torch intra-op thread, wherever it runs: in this
    process's library calls (``torch.set_num_threads``) and in commands
    (``$SAMCLI_THREADS``: the CLI's ``ModelLoader.get`` sets torch's count from it, in this
    process, in subprocesses and in Ray actors, whatever was set before). On the shared
    2-core test machine the SAM 2 encoder and the decoders' many small operations mostly
    synchronise threads otherwise. Both are restored afterwards (a command leaves torch's
    count at its own)."""
    import torch

    from samcli.threads import ENV

    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV, "1")
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def coffee_image() -> np.ndarray:
    """skimage's coffee photo: uint8 (400, 600, 3) RGB (non-square, landscape)."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.coffee())


@pytest.fixture(scope="session")
def chelsea_image() -> np.ndarray:
    """skimage's cat photo: uint8 (300, 451, 3) RGB (odd width)."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.chelsea())


@pytest.fixture(scope="session")
def mobile_ckpt(tmp_path_factory):
    """A checkpoint file of the confident random-weight MobileSAM (command and Ray tests)."""
    import torch

    from tests.commands.conftest import confident_mobile_sam

    path = tmp_path_factory.mktemp("ckpt") / "mobile_test.pt"
    torch.save(confident_mobile_sam().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def vit_b_pair():
    """(ours, reference) vit_b with identical seeded random weights."""
    from tests.factories import make_model_pair

    return make_model_pair("vit_b", seed=0)


@pytest.fixture(scope="session")
def mobile_sam_pair():
    """(ours, reference) MobileSAM with identical seeded random weights."""
    from tests.factories import make_model_pair

    return make_model_pair("mobile_sam", seed=0)


def _predictors(pair, image):
    from samcli.predictor import Predictor

    ours, ref = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if type(ref).__module__.startswith("mobile_sam"):
            from mobile_sam.predictor import SamPredictor
        else:
            from segment_anything.predictor import SamPredictor
    predictor = Predictor(ours)
    predictor.set_image(image)
    reference = SamPredictor(ref)
    reference.set_image(image)
    return predictor, reference


@pytest.fixture(scope="session")
def vit_b_predictors(vit_b_pair, coffee_image):
    """(our Predictor, reference SamPredictor), both with the coffee image set."""
    return _predictors(vit_b_pair, coffee_image)


@pytest.fixture(scope="session")
def mobile_sam_predictors(mobile_sam_pair, chelsea_image):
    """(our Predictor, reference SamPredictor), both with the chelsea image set."""
    return _predictors(mobile_sam_pair, chelsea_image)


@pytest.fixture(scope="session")
def sam2_tiny_pair():
    """(ours, reference) sam2.1_hiera_tiny with identical seeded random weights (noise on
    every tensor; see tests.sam2_factories.make_sam2_pair)."""
    from tests.sam2_factories import make_sam2_pair

    return make_sam2_pair("sam2.1_hiera_tiny", seed=0)


@pytest.fixture(scope="session")
def sam2_automask_pair():
    """(ours, reference) sam2.1_hiera_tiny at a 256 model input with the everything-mode test
    weights (:mod:`tests.automask_models_sam2`); shared, so treat both as read-only."""
    from tests.automask_models_sam2 import make_automask_pair
    from tests.sam2_factories import quiet

    with quiet():
        return make_automask_pair(seed=0)
