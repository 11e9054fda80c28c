"""Shapes without numbers (:mod:`samcli.model.meta`): quick, and without ``torch._dynamo``."""

from __future__ import annotations

import json
import subprocess
import sys

import torch
from torch import nn

from samcli.model import MODEL_NAMES
from samcli.model.meta import on_meta
from tests.commands.conftest import REPO

# Every builder, as the commands use them: the expected state for a checkpoint check, then a
# skip_init model to load weights into. Reports which of them imported torch._dynamo first.
_BUILD_ALL = """
import json, sys
from samcli.model import MODEL_NAMES, build_model
from samcli.model.checkpoint import expected_state
first = None
for name in MODEL_NAMES:
    expected_state(name)
    build_model(name, skip_init=True)
    if first is None and "torch._dynamo" in sys.modules:
        first = name
print(json.dumps({"names": list(MODEL_NAMES), "dynamo_after": first}))
"""


def test_no_builder_imports_dynamo():
    """Out-of-place arithmetic or ``normal_`` on the meta device imports ``torch._dynamo``
    (about a second of every command's start). No builder may do either, in a fresh
    process as a command runs it."""
    done = subprocess.run([sys.executable, "-c", _BUILD_ALL], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=True)
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["names"] == list(MODEL_NAMES) and len(MODEL_NAMES) >= 9
    assert report["dynamo_after"] is None, f"building {report['dynamo_after']} imports dynamo"


def test_on_meta_makes_meta_tensors_and_skips_only_normal_inits():
    with on_meta():
        emb = nn.Embedding(2, 3)
        made = torch.randn(2, 3).mul_(2.0)
        lin = nn.Linear(3, 4)
    assert emb.weight.is_meta and made.is_meta and lin.weight.is_meta
    # outside, initialisers run again: normal_ fills in place
    torch.manual_seed(0)
    filled = nn.init.normal_(torch.zeros(1000))
    assert filled.std() > 0.5
    torch.manual_seed(0)
    assert torch.equal(torch.zeros(1000).normal_(), filled)
