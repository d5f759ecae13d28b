"""Stack fixes: the missing mmaction2 DRN package (mmaction2#2714), VindLU
under transformers 5, safe checkpoints (mmengine#1655)."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(code):
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          env={
                              'PYTHONPATH': ROOT,
                              'PATH': '/usr/bin:/bin'
                          })


def test_mmaction_models_import_and_resnet_build_after_prvr_mm():
    proc = run('import prvr_mm, mmaction.models\n'
               'from mmaction.registry import MODELS\n'
               'from mmengine.registry import init_default_scope\n'
               "init_default_scope('mmaction')\n"
               "m = MODELS.build(dict(type='mmaction.ResNet', depth=18, "
               'pretrained=None))\n'
               'print(type(m).__name__)')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith('ResNet')


def test_stub_only_when_wheel_lacks_drn():
    from prvr_mm.utils.compat import _mmaction_dir
    has_drn = osp.isfile(
        osp.join(_mmaction_dir(), 'models', 'localizers', 'drn', 'drn.py'))
    proc = run('import mmaction.models')
    # on the broken 1.2.0 wheel the bare import fails: the stub is needed
    assert (proc.returncode == 0) == has_drn, proc.stderr[-500:]


def test_building_the_stubbed_drn_raises_a_clear_error():
    import sys as _sys
    mod = _sys.modules.get('mmaction.models.localizers.drn.drn')
    if mod is None or not hasattr(mod.DRN, '__mro__') or \
            mod.DRN.__name__ != '_MissingDRN':
        pytest.skip('mmaction2 ships the DRN localizer here')
    with pytest.raises(ImportError, match='2714'):
        mod.DRN()


def test_safe_globals_do_not_allow_getattr():
    import torch

    from prvr_mm.utils.checkpoint import safe_globals
    assert getattr not in safe_globals()
    allowed = torch.serialization.get_safe_globals()
    assert getattr not in allowed


def test_vindlu_stub_with_transformers5():
    """transformers >= 5 breaks mmaction2 1.2.0's VindLU imports: the stub
    lets ``import mmaction.models`` work and names the cause on build."""
    from prvr_mm.utils.compat import _transformers_major
    major = _transformers_major()
    if major is None or major < 5:
        pytest.skip('transformers < 5 (or absent): VindLU imports as is')
    proc = run('import prvr_mm, mmaction.models\n'
               'from mmaction.registry import MODELS\n'
               'from mmengine.registry import init_default_scope\n'
               "init_default_scope('mmaction')\n"
               "MODELS.build(dict(type='VindLURetrieval'))")
    assert proc.returncode != 0
    assert 'apply_chunking_to_forward' in proc.stderr, proc.stderr[-2000:]


def test_history_buffer_checkpoint_loads_with_weights_only(tmp_path):
    """mmengine#1655 (fix PR #1670 in no release): a Runner checkpoint's
    ``HistoryBuffer`` loads with ``weights_only=True`` after ``import
    prvr_mm`` (allow-list + pickled without function references)."""
    import torch
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.5)
    path = str(tmp_path / 'hub.pth')
    torch.save(dict(message_hub=dict(log_scalars=dict(loss=buf))), path)
    loaded = torch.load(path, weights_only=True)
    restored = loaded['message_hub']['log_scalars']['loss']
    assert isinstance(restored, HistoryBuffer)
    assert restored.mean() == 2.0 and restored.current() == 2.5
