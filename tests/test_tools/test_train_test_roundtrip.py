"""train -> save -> test round trip through the real tools and Runner, and
``--resume`` / checkpoint loading under ``torch.load(weights_only=True)``."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.helpers.tools import ROOT
from tests.helpers.tools import TINY_TOY_CFG as CFG
from tests.helpers.tools import run_tool


def scalars(work_dir):
    path = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert path, f'no scalars.json under {work_dir}'
    with open(sorted(path)[-1]) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def trained(tiny_toy_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('work'))
    run_tool(
        osp.join(ROOT, 'tools', 'train.py'),
        CFG,
        '--work-dir',
        work,
        '--test-best',
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        cwd=work)
    return work


def test_train_writes_checkpoints_and_logs(trained):
    assert osp.isfile(osp.join(trained, 'epoch_2.pth'))
    assert glob.glob(osp.join(trained, 'best_prvr_SumR_epoch_*.pth'))
    logs = scalars(trained)
    val = [r for r in logs if 'prvr/SumR' in r]
    assert len(val) == 2 and 'prvr/inher/SumR' in val[0]
    # DynamicKDHook: exp decay 0.95 ** epoch, logged during training
    kd = {r['epoch']: r['kd_weight'] for r in logs if 'kd_weight' in r}
    assert kd[1] == pytest.approx(1.0) and kd[2] == pytest.approx(0.95)


def test_checkpoint_loads_weights_only(trained):
    ckpt = osp.join(trained, 'epoch_2.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert 'message_hub' in state and 'state_dict' in state
    assert not any(k.startswith('teacher.') for k in state['state_dict'])


def test_test_tool_reproduces_logged_metrics(trained, tiny_toy_root):
    best = glob.glob(osp.join(trained, 'best_prvr_SumR_epoch_*.pth'))[0]
    out = osp.join(trained, 'm.json')
    run_tool(
        osp.join(ROOT, 'tools', 'test.py'),
        CFG,
        best,
        '--out',
        out,
        '--work-dir',
        trained,
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        cwd=trained)
    with open(out) as f:
        metrics = json.load(f)
    with open(osp.join(trained, 'test_metrics.json')) as f:
        logged = json.load(f)
    assert logged['best_checkpoint'] == best
    for key in ('prvr/SumR', 'prvr/R@1', 'prvr/mAP', 'prvr/inher/SumR',
                'prvr/explore/MedR'):
        assert metrics[key] == pytest.approx(logged[key], abs=1e-9), key
    assert logged['prvr/SumR'] > 0 and logged['random/SumR'] > 0


def test_resume_continues_training(trained, tiny_toy_root):
    proc = run_tool(
        osp.join(ROOT, 'tools', 'train.py'),
        CFG,
        '--work-dir',
        trained,
        '--resume',
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        'train_cfg.max_epochs=3',
        cwd=trained)
    assert 'resumed epoch: 2' in (proc.stdout + proc.stderr)
    assert osp.isfile(osp.join(trained, 'epoch_3.pth'))


def test_plain_torch_load_needs_the_allow_list(trained):
    """Without ``import prvr_mm`` the stock loader refuses the checkpoint
    (so the allow-list is what makes the round trip work)."""
    code = ('import torch,sys; torch.load(sys.argv[1], weights_only=True)')
    proc = subprocess.run([
        sys.executable, '-c', code,
        sorted(glob.glob(osp.join(trained, 'epoch_*.pth')))[-1]
    ],
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert 'HistoryBuffer' in proc.stderr or 'numpy' in proc.stderr


def test_test_tool_needs_no_teacher_or_train_files(trained, tiny_toy_root,
                                                   tmp_path):
    """Evaluation opens neither the teacher files nor the training split:
    a data root without them gives the same metrics as the full one."""
    import shutil
    root = str(tmp_path / 'eval_only')
    shutil.copytree(tiny_toy_root, root)
    removed = glob.glob(osp.join(root, '*', '*clip*')) + glob.glob(
        osp.join(root, 'TextData', '*train.caption.txt'))
    assert len(removed) == 3, removed
    for path in removed:
        os.remove(path)
    ckpt = sorted(glob.glob(osp.join(trained, 'epoch_*.pth')))[-1]
    metrics = {}
    for name, data_root in (('full', tiny_toy_root), ('eval_only', root)):
        out = str(tmp_path / f'{name}.json')
        run_tool(
            osp.join(ROOT, 'tools', 'test.py'),
            CFG,
            ckpt,
            '--out',
            out,
            '--work-dir',
            str(tmp_path / name),
            '--cfg-options',
            f'data_root={data_root}',
            cwd=str(tmp_path))
        with open(out) as f:
            metrics[name] = json.load(f)
    # the teacher's zero-shot row needs the teacher files; every student
    # metric is the same without them
    zero_shot = [k for k in metrics['full'] if '/clip_zeroshot/' in k]
    assert zero_shot and not any('clip_zeroshot' in k
                                 for k in metrics['eval_only'])
    assert metrics['eval_only'] == {
        k: v
        for k, v in metrics['full'].items() if k not in zero_shot
    }
    assert metrics['full']['prvr/SumR'] > 0


def test_test_tool_refuses_a_checkpoint_of_other_dimensions(
        trained, tiny_toy_root):
    """A checkpoint trained with hidden size 16 evaluated with a config of
    hidden size 32: an error listing keys and shapes, never metrics."""
    out = osp.join(trained, 'wrong.json')
    ckpt = sorted(glob.glob(osp.join(trained, 'epoch_*.pth')))[-1]
    proc = run_tool(
        osp.join(ROOT, 'tools', 'test.py'),
        CFG,
        ckpt,
        '--out',
        out,
        '--work-dir',
        trained,
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        'model.inheritance.hidden_dim=32',
        cwd=trained,
        check=False)
    assert proc.returncode == 2  # a PRVRError: one error line (run_tool)
    assert f'{ckpt} does not fit the model of the config' in proc.stderr
    assert 'size mismatch inheritance.query_proj.linear.weight: ' \
        'checkpoint (16, 16), model (32, 16)' in proc.stderr
    assert 'Traceback' not in proc.stderr and not osp.exists(out)
