"""``--resume`` does what the user means and touches nothing outside the
new run's work dir, through the real ``tools/train.py``:

* resuming a copied work dir (``cp -a A C``) or another dir's checkpoint
  (``--work-dir B --resume A/epoch_2.pth``) leaves every file of A byte for
  byte as it was (MMEngine deleted A's best checkpoint when the resumed run
  found a better score);
* ``--resume`` with a larger ``train_cfg.max_epochs`` rescales the rest of
  the learning-rate schedule to the new end (MMEngine froze it at the old
  schedule's last value) and the early-stopping state carries over.

The source run A is trained once (2 epochs of the tiny toy, 3 iterations
each); its best score is then lowered in its epoch checkpoint, so that every
resumed run saves a new best checkpoint (the moment MMEngine deleted A's).
"""
import glob
import hashlib
import json
import os.path as osp
import shutil

import pytest
import torch

from prvr_mm.engine.schedulers import warmup_linear
from tests.helpers.tools import TINY_TOY_CFG as CFG
from tests.helpers.tools import run_tool, tool

ITERS_PER_EPOCH, OLD_EPOCHS, NEW_EPOCHS = 3, 2, 4
PEAK_LR, WARMUP = 1e-3, 0.05


def digests(folder):
    """Relative path -> sha256 of every file under ``folder``."""
    out = {}
    for path in glob.glob(osp.join(folder, '**', '*'), recursive=True):
        if osp.isfile(path):
            with open(path, 'rb') as f:
                out[osp.relpath(path, folder)] = hashlib.sha256(
                    f.read()).hexdigest()
    return out


def train(work_dir, data_root, *extra, cwd, epochs=OLD_EPOCHS):
    return run_tool(
        tool('train.py'),
        CFG,
        '--work-dir',
        work_dir,
        *extra,
        '--cfg-options',
        f'data_root={data_root}',
        f'train_cfg.max_epochs={epochs}',
        cwd=cwd)


def scalars(work_dir):
    records = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f]
    return records


@pytest.fixture(scope='module')
def source(tiny_toy_root, tmp_path_factory):
    """Run A (2 epochs) with a beatable best score; its file digests."""
    root = tmp_path_factory.mktemp('resume_intent')
    work = str(root / 'A')
    train(work, tiny_toy_root, cwd=str(root))
    ckpt = osp.join(work, f'epoch_{OLD_EPOCHS}.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    info = state['message_hub']['runtime_info']
    assert info['best_ckpt'].startswith(work)  # absolute, in A
    info['best_score'] = -1.0  # the checkpoint hook's, not early stopping's
    torch.save(state, ckpt)
    best = glob.glob(osp.join(work, 'best_*.pth'))
    assert len(best) == 1
    return root, work, digests(work)


@pytest.fixture(scope='module')
def foreign(source, tiny_toy_root):
    """``--work-dir B --resume A/epoch_2.pth`` with max_epochs 2 -> 4."""
    root, work_a, _ = source
    work_b = str(root / 'B')
    proc = train(
        work_b,
        tiny_toy_root,
        '--resume',
        osp.join(work_a, f'epoch_{OLD_EPOCHS}.pth'),
        cwd=str(root),
        epochs=NEW_EPOCHS)
    return work_b, proc.stdout + proc.stderr


def test_foreign_checkpoint_resume_leaves_source_untouched(source, foreign):
    _, work_a, before = source
    work_b, log = foreign
    assert digests(work_a) == before
    assert 'is removed' not in log
    assert 'is outside this work dir' in log
    # B keeps its own best checkpoint and resumes from its own files
    assert glob.glob(osp.join(work_b, 'best_*.pth'))
    with open(osp.join(work_b, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(work_b, f'epoch_{NEW_EPOCHS}.pth')


def test_copied_work_dir_resume_leaves_source_untouched(source, tiny_toy_root):
    root, work_a, before = source
    work_c = str(root / 'C')
    shutil.copytree(work_a, work_c, symlinks=True)
    copied = digests(work_c)
    proc = train(
        work_c, tiny_toy_root, '--resume', cwd=str(root), epochs=NEW_EPOCHS)
    log = proc.stdout + proc.stderr
    assert digests(work_a) == before
    # resumed from C's own copy of the checkpoint, not A's file
    assert f'resuming its copy {osp.join(work_c, "epoch_2.pth")}' in log
    # C's copy of A's best checkpoint is C's to replace: one best file, new
    best = glob.glob(osp.join(work_c, 'best_*.pth'))
    name = osp.basename(best[0])
    assert len(best) == 1 and digests(work_c)[name] != copied.get(name)
    assert not osp.exists(osp.join(work_c, 'run.lock'))


def test_longer_resumed_run_decays_to_zero_at_its_new_end(foreign):
    """max_epochs 2 -> 4: the lr falls linearly from the resume point and
    reaches 0 at the new last iteration (step 12), never frozen."""
    work_b, _ = foreign
    lrs = {
        r['step']: r['lr']
        for r in scalars(work_b) if 'lr' in r and 'loss' in r
    }
    steps = sorted(lrs)
    assert steps == list(
        range(OLD_EPOCHS * ITERS_PER_EPOCH + 1,
              NEW_EPOCHS * ITERS_PER_EPOCH + 1))
    values = [lrs[s] for s in steps]
    assert len(set(values)) == len(values), 'frozen learning rate'
    old_last = PEAK_LR * warmup_linear(5 / 6, WARMUP)  # A's last iteration
    assert values[0] < old_last
    steps_down = [a - b for a, b in zip([old_last] + values, values)]
    assert steps_down == pytest.approx([steps_down[0]] * len(steps_down))
    # one more equal step from the last iteration reaches exactly 0
    assert values[-1] - steps_down[-1] == pytest.approx(0, abs=1e-12)
    state = torch.load(
        osp.join(work_b, f'epoch_{NEW_EPOCHS}.pth'),
        map_location='cpu',
        weights_only=True)
    sched = state['param_schedulers'][0]
    assert sched['end'] == NEW_EPOCHS * ITERS_PER_EPOCH
    assert [tuple(r) for r in sched['rescales']] == [(5, 6)]
    assert state['meta']['max_epochs'] == NEW_EPOCHS


def test_early_stopping_state_carries_over(source, foreign):
    """The counter and best score of A's checkpoint go on in B (a fresh
    counter would take B's first score, the re-validation of A's best
    epoch, as its best with a count of 0)."""
    _, work_a, _ = source
    work_b, _ = foreign
    start = torch.load(
        osp.join(work_a, f'epoch_{OLD_EPOCHS}.pth'),
        map_location='cpu',
        weights_only=True)['early_stopping']
    # the resumed run validates epoch 2 again, then 3 and 4
    scores = [r['prvr/SumR'] for r in scalars(work_b) if 'prvr/SumR' in r]
    assert len(scores) == NEW_EPOCHS - OLD_EPOCHS + 1

    def counted(scores):
        best, wait = start['best_score'], start['wait_count']
        for score in scores:
            best, wait = (score, 0) if score > best else (best, wait + 1)
        return dict(best_score=pytest.approx(best), wait_count=wait)

    end = torch.load(
        osp.join(work_b, f'epoch_{NEW_EPOCHS}.pth'),
        map_location='cpu',
        weights_only=True)['early_stopping']
    end = dict(best_score=end['best_score'], wait_count=end['wait_count'])
    # epoch_4.pth is written before epoch 4's validation (and again after
    # it when that was a new best)
    assert end in (counted(scores[:-1]), counted(scores))
    assert scores[0] == pytest.approx(start['best_score'])  # same weights
    assert end['wait_count'] >= 1 or end['best_score'] > scores[0]
