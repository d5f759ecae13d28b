"""``import prvr_mm`` in a fresh interpreter changes nothing in mmengine,
mmaction2 or torch beyond the registries and the documented fixes of the
pinned stack (``prvr_mm/__init__.py``, docs/architecture.md)."""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Snapshots the objects of the modules and classes a plugin could patch,
# imports prvr_mm, and prints what changed as JSON.
PROBE = r'''
import json, sys
import torch, torch.serialization
import mmengine.runner, mmengine.runner.checkpoint, mmengine.model
import mmengine.logging
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.model import BaseModel

SPACES = dict(torch=torch, serialization=torch.serialization,
              runner_module=mmengine.runner,
              checkpoint_module=mmengine.runner.checkpoint,
              Runner=Runner, CheckpointLoader=CheckpointLoader,
              BaseModel=BaseModel, HistoryBuffer=HistoryBuffer,
              Module=torch.nn.Module, Tensor=torch.Tensor)

def snapshot():
    return {f'{n}.{k}': id(v) for n, s in SPACES.items()
            for k, v in list(vars(s).items())}

def schemes():
    return {p: f'{f.__module__}.{f.__qualname__}'
            for p, f in CheckpointLoader._schemes.items()}

before, schemes_before = snapshot(), schemes()
safe_before = set(map(repr, torch.serialization.get_safe_globals()))
modules_before = set(sys.modules)
load_before = torch.load

import prvr_mm  # noqa
from prvr_mm.utils.checkpoint import safe_globals

after = snapshot()
stubs = sorted(
    m for m in set(sys.modules) - modules_before
    if m.split('.')[0] in ('mmaction', 'mmengine', 'mmcv', 'torch') and
    getattr(sys.modules[m], '__file__', None) is None and
    getattr(sys.modules[m], '__spec__', None) is None)
print(json.dumps(dict(
    changed=sorted(k for k in before if after.get(k) != before[k]),
    schemes_changed=schemes() != schemes_before,
    torch_load_same=torch.load is load_before,
    safe_added=sorted(set(map(repr, torch.serialization.get_safe_globals()))
                      - safe_before),
    safe_documented=sorted(map(repr, safe_globals())),
    stubs=stubs)))
'''

#: the documented patch of mmengine (mmengine#1655, prvr_mm.utils.checkpoint)
ALLOWED_CHANGES = {'HistoryBuffer.__getstate__'}
#: the documented stub modules (mmaction2#2714; VindLU under transformers 5)
ALLOWED_STUBS = {
    'mmaction.models.localizers.drn', 'mmaction.models.localizers.drn.drn',
    'mmaction.models.multimodal.vindlu'
}


def _probe():
    proc = subprocess.run([sys.executable, '-c', PROBE],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          env={
                              'PYTHONPATH': ROOT,
                              'PATH': '/usr/bin:/bin',
                              'OMP_NUM_THREADS': '1'
                          })
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_changes_only_registries_and_documented_fixes():
    found = _probe()
    # the probe sees the one documented patch (so it would see others)
    assert 'HistoryBuffer.__getstate__' in found['changed']
    # no function or attribute of torch / mmengine replaced, except the
    # HistoryBuffer pickling fix
    assert set(found['changed']) <= ALLOWED_CHANGES, found['changed']
    # MMEngine's checkpoint loaders untouched (our tools register ours)
    assert not found['schemes_changed']
    assert found['torch_load_same']
    # the weights_only allow-list grew by exactly the documented globals
    assert set(found['safe_added']) <= set(found['safe_documented'])
    # only the documented stub modules were placed in sys.modules
    assert set(found['stubs']) <= ALLOWED_STUBS, found['stubs']


def test_tools_register_the_named_error_loader():
    """``tools/train.py`` and ``tools/test.py`` install the checkpoint
    loader themselves (it is not an import side effect)."""
    for name in ('train', 'test'):
        with open(osp.join(ROOT, 'tools', f'{name}.py')) as f:
            assert 'register_checkpoint_loader()' in f.read(), name
