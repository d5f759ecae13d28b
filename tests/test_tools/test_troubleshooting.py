"""Every row of ``docs/troubleshooting.md`` is reproduced here: the bad input
is made for real (broken copies of the tiny toy data, bad configs, broken
checkpoint files, bad command lines) and the error must contain the text the
table quotes (``…`` stands for a variable part, such as a path).
"""
import argparse
import importlib.util
import io
import os
import os.path as osp
import re
import shutil
import sys
from contextlib import redirect_stderr, redirect_stdout

import h5py
import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS, HOOKS, MODELS
from mmengine.config import Config

from prvr_mm.errors import PRVRError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(ROOT, 'docs', 'troubleshooting.md')
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_toy.py')
CASES = {}


def case(row):

    def register(fn):
        CASES[row] = fn
        return fn

    return register


def documented_rows():
    """(row id, quoted error) of every table row of the doc."""
    rows = []
    with open(DOC, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'\|\s*([A-Z]\d+)\s*\|.*?\|\s*`([^`]+)`', line)
            if m:
                rows.append((m.group(1), m.group(2)))
    return rows


def tool(name):
    spec = importlib.util.spec_from_file_location(
        f'_tool_{name}', osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Env:
    """Fresh broken copies of the tiny toy data for one case."""

    def __init__(self, toy_root, tmp_path):
        self.toy_root, self.tmp = toy_root, tmp_path

    def copy(self):
        root = str(self.tmp / 'data')
        shutil.copytree(self.toy_root, root)
        return root

    def cfg(self, root=None):
        cfg = Config.fromfile(CFG)
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            cfg[loader].dataset.data_root = root or self.toy_root
        return cfg

    def dataset(self, root=None, read=True, **overrides):
        cfg = self.cfg(root).train_dataloader.dataset
        cfg.update(overrides)
        dataset = DATASETS.build(cfg)
        dataset.full_init()
        if read:
            for i in range(len(dataset)):
                dataset[i]
        return dataset

    def batch(self, model, root=None, **overrides):
        dataset = self.dataset(root, read=False, **overrides)
        items = [dataset[i] for i in range(3)]
        data = dict(
            inputs={
                k: [it['inputs'][k] for it in items]
                for k in items[0]['inputs']
            },
            data_samples=[it['data_samples'] for it in items])
        return model.data_preprocessor(data, training=True)

    def model(self, **overrides):
        cfg = self.cfg().model
        cfg.merge_from_dict(overrides) if hasattr(cfg, 'merge_from_dict') \
            else cfg.update(overrides)
        model = MODELS.build(cfg)
        model.init_weights()
        return model

    def checkpoint(self, **model_overrides):
        path = str(self.tmp / 'ckpt.pth')
        model = self.model(**model_overrides)
        torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
        return path


def _train_key(root, name):
    """A training-split key of the h5 file ``name`` of ``root``."""
    with open(osp.join(root, 'TextData', 'toytrain.caption.txt')) as f:
        cap = f.readline().split(' ', 1)[0]
    return cap if 'roberta' in name else cap.replace('#enc#', '#')


# ---------------------------------------------------------------- data files
@case('D1')
def _no_data_root(env):
    env.dataset(str(env.tmp / 'no_such_root'))


@case('D2')
def _no_caption_file(env):
    env.dataset(ann_file='TextData/toytrian.caption.txt')


@case('D3')
def _malformed_caption(env):
    root = env.copy()
    with open(osp.join(root, 'TextData', 'toytrain.caption.txt'), 'a') as f:
        f.write('a line without an id\n')
    env.dataset(root)


@case('D4')
def _duplicate_caption(env):
    root = env.copy()
    path = osp.join(root, 'TextData', 'toytrain.caption.txt')
    with open(path) as f:
        first = f.readline()
    with open(path, 'a') as f:
        f.write(first)
    env.dataset(root)


@case('D5')
def _video_without_features(env):
    root = env.copy()
    with open(osp.join(root, 'TextData', 'toytrain.caption.txt'), 'a') as f:
        f.write('ghost_video#enc#0 a person walks in\n')
    env.dataset(root)


@case('D6')
def _query_without_features(env):
    root = env.copy()
    name = 'roberta_toy_query_feat.hdf5'
    with h5py.File(osp.join(root, 'TextData', name), 'a') as f:
        del f[_train_key(root, name)]
    env.dataset(root)


@case('D7')
def _video_dim(env):
    env.dataset(video_dim=64)


@case('D8')
def _teacher_dim(env):
    env.dataset(teacher_dim=512)


@case('D9')
def _no_teacher_file(env):
    root = env.copy()
    os.remove(
        osp.join(root, 'FeatureData', 'new_clip_vit_32_toy_vid_features.hdf5'))
    env.dataset(root)


@case('D10')
def _truncated_bigfile(env):
    root = env.copy()
    path = osp.join(root, 'FeatureData', 'toy_i3d', 'feature.bin')
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 128)
    env.dataset(root)


@case('D11')
def _truncated_h5(env):
    root = env.copy()
    path = osp.join(root, 'TextData', 'roberta_toy_query_feat.hdf5')
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    env.dataset(root)


@case('D12')
def _nan_features(env):
    root = env.copy()
    name = 'roberta_toy_query_feat.hdf5'
    with h5py.File(osp.join(root, 'TextData', name), 'a') as f:
        key = _train_key(root, name)
        value = f[key][()]
        value[0, 0] = np.nan
        del f[key]
        f[key] = value
    env.dataset(root)


@case('D13')
def _no_meta_file(env):
    env.dataset(meta_file='TextData/toy_meta.jsn')


@case('D14')
def _empty_split(env):
    root = env.copy()
    open(osp.join(root, 'TextData', 'toytrain.caption.txt'), 'w').close()
    env.dataset(root)


# ------------------------------------------------------------------- configs
@case('C1')
def _heads(env):
    env.model(inheritance=dict(hidden_dim=30))


@case('C2')
def _label_style(env):
    env.model(label_style='sotf')


@case('C3')
def _max_ctx_l(env):
    model = env.model(inheritance=dict(max_ctx_l=4))
    model(**env.batch(model), mode='loss')


@case('C4')
def _teacher_feature_dim(env):
    model = env.model(teacher=dict(feature_dim=16))
    model(**env.batch(model), mode='loss')


@case('C5')
def _kd_without_teacher_files(env):
    model = env.model()
    data = env.batch(model, with_teacher=False)
    model(**data, mode='loss')


@case('C6')
def _kd_decay(env):
    HOOKS.build(dict(type='DynamicKDHook', kd_decay='expo'))


@case('C7')
def _registry_typo(env):
    env.model(type='DualStudentRecogniser')


@case('C8')
def _auto_scale_lr(env):
    train = tool('train')
    args = _train_args(train, '--auto-scale-lr', '--cfg-options',
                       'auto_scale_lr=None')
    train.merge_args(Config.fromfile(CFG), args)


# -------------------------------------------------------------- checkpoints
def _load(path, model=None):
    from prvr_mm.utils import check_checkpoint_matches, load_local_checkpoint
    checkpoint = load_local_checkpoint(path)
    if model is not None:
        check_checkpoint_matches(model, checkpoint, path)


@case('K1')
def _other_dimensions(env):
    _load(env.checkpoint(inheritance=dict(hidden_dim=32)), env.model())


@case('K2')
def _empty_checkpoint(env):
    path = env.tmp / 'epoch_3.pth'
    path.touch()
    _load(str(path))


@case('K3')
def _truncated_checkpoint(env):
    path = env.checkpoint()
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 100)
    _load(path)


class _RunsCode:
    """Unpickling this would run a shell command (writes a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@case('K4')
def _crafted_pickle(env):
    marker = env.tmp / 'code_ran'
    path = str(env.tmp / 'crafted.pth')
    torch.save(dict(state_dict={}, payload=_RunsCode(marker)), path)
    try:
        _load(path)
    finally:
        assert not marker.exists(), 'loading the checkpoint ran code'


class EasyDict(dict):
    """Stands for ``easydict.EasyDict``, which the authors' ``train.py``
    pickles with the weights (their model config)."""


@case('K5')
def _authors_checkpoint(env):
    import types
    module = types.ModuleType('easydict')
    module.EasyDict = EasyDict
    EasyDict.__module__ = 'easydict'
    sys.modules['easydict'] = module
    path = str(env.tmp / 'model.ckpt')
    try:
        torch.save(
            dict(
                model={'query_encoder.self.query.weight': torch.zeros(2, 2)},
                model_cfg=EasyDict(hidden_size=384)), path)
    finally:
        del sys.modules['easydict']
        EasyDict.__module__ = __name__
    _load(path)


@case('K6')
def _missing_checkpoint(env):
    _load(str(env.tmp / 'work_dirs' / 'epoch_12.pth'))


@case('K7')
def _converter_truncated(env):
    path = env.checkpoint()
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    converter = importlib.util.spec_from_file_location(
        '_conv',
        osp.join(ROOT, 'tools', 'model_converters', 'dldkd_to_prvr_mm.py'))
    module = importlib.util.module_from_spec(converter)
    converter.loader.exec_module(module)
    module.main([path, str(env.tmp / 'out.pth')])


# ------------------------------------------------------------ command lines
def _train_args(train, *argv):
    old = sys.argv
    sys.argv = ['tools/train.py', CFG, *argv]
    try:
        return train.parse_args()
    finally:
        sys.argv = old


@case('L1')
def _config_path(env):
    train = tool('train')
    args = _train_args(train)
    args.config = 'configs/dlkd_tvr_typo.py'
    train.merge_args(Config.fromfile(args.config), args)


@case('L2')
def _cfg_options_without_value(env):
    _train_args(tool('train'), '--cfg-options', 'model.gather_negatives')


@case('L3')
def _slurm_launcher_on_cpu(env):
    if torch.cuda.is_available():
        pytest.skip('the CPU launcher check needs a machine without CUDA')
    train = tool('train')
    train.merge_args(
        Config.fromfile(CFG), _train_args(train, '--launcher', 'slurm'))


@case('L4')
def _pytorch_launcher_without_torchrun(env, monkeypatch=None):
    if torch.cuda.is_available():
        pytest.skip('the CPU launcher check needs a machine without CUDA')
    train = tool('train')
    saved = {
        k: os.environ.pop(k)
        for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR') if k in os.environ
    }
    try:
        train.merge_args(
            Config.fromfile(CFG), _train_args(train, '--launcher', 'pytorch'))
    finally:
        os.environ.update(saved)


@case('L5')
def _resume_nothing(env):
    train = tool('train')
    args = _train_args(train, '--resume', '--work-dir',
                       str(env.tmp / 'new_work_dir'))
    train.merge_args(Config.fromfile(CFG), args)


def _message(fn, env):
    """What the user reads: the exception text, or the printed output."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            fn(env)
    except SystemExit as exc:
        return f'{exc.code}\n{err.getvalue()}\n{out.getvalue()}'
    except PRVRError as exc:  # the API raises it, a tool prints 'error:'
        return f'{type(exc).__name__}: {exc}\nerror: {exc}'
    except Exception as exc:  # noqa: BLE001 (the error under test)
        return f'{type(exc).__name__}: {exc}'
    return out.getvalue() + err.getvalue()


def test_every_documented_row_has_a_case():
    rows = [row for row, _ in documented_rows()]
    assert len(rows) >= 20 and len(set(rows)) == len(rows)
    assert sorted(rows) == sorted(CASES)


@pytest.mark.parametrize('row,quoted', documented_rows())
def test_bad_input_gives_the_documented_error(row, quoted, tiny_toy_root,
                                              tmp_path):
    message = _message(CASES[row], Env(tiny_toy_root, tmp_path))
    position = 0
    for part in quoted.split('…'):
        found = message.find(part.strip(), position)
        assert found >= 0, (
            f'{row}: {part.strip()!r} not in the error:\n{message}')
        position = found + len(part.strip())


def test_rows_are_errors_not_silence():
    """The argument parser's usage error really exits (status 2)."""
    with pytest.raises(SystemExit) as err, redirect_stderr(io.StringIO()):
        _train_args(tool('train'), '--cfg-options', 'oops')
    assert err.value.code == 2
    assert isinstance(argparse.ArgumentParser, type)


# ------------------------------------- checkpoint files that are no checkpoint
def _write(env, name, data):
    path = env.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


@case('K8')
def _git_lfs_pointer(env):
    _load(
        _write(
            env, 'epoch_12.pth',
            b'version https://git-lfs.github.com/spec/v1\n'
            b'oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2'
            b'ca24d17e2393\nsize 20971520\n'))


@case('K9')
def _html_page(env):
    _load(
        _write(env, 'model.pth',
               b'<!DOCTYPE html>\n<html><head><title>Sign in</title>'))


@case('K10')
def _random_bytes(env):
    _load(_write(env, 'ckpt.pth', bytes(range(1, 200))))


@case('K11')
def _directory_as_checkpoint(env):
    work = env.tmp / 'work_dirs' / 'dlkd_tvr'
    work.mkdir(parents=True)
    (work / 'epoch_2.pth').write_bytes(b'')
    (work / 'best_prvr_SumR_epoch_2.pth').write_bytes(b'')
    _load(str(work))


# ------------------------------------------------------ --cfg-options values
@case('L6')
def _cfg_options_with_spaces(env):
    train = tool('train')
    args = _train_args(train, '--cfg-options',
                       f'data_root={env.tmp}/my vidéos')
    cfg = train.merge_args(Config.fromfile(CFG), args)
    DATASETS.build(cfg.train_dataloader.dataset).full_init()


# ------------------------------------------------------ runs and work dirs
def _start(env, *options, work='work'):
    """tools/train.py's run set-up (checks, lock) on the tiny toy."""
    train = tool('train')
    args = _train_args(train, '--work-dir', str(env.tmp / work),
                       '--cfg-options', f'data_root={env.toy_root}', *options)
    cfg = train.merge_args(Config.fromfile(CFG), args)
    return train, cfg, train.start_run(cfg, args)


def _lock_of(env, pid, work='work'):
    import json
    import socket

    from prvr_mm.engine.work_dir_lock import LOCK_NAME, _proc_start
    folder = env.tmp / work
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(
        json.dumps(
            dict(
                pid=pid,
                host=socket.gethostname(),
                started='2026-11-30T08:15:00',
                proc_start=_proc_start(pid),
                work_dir=osp.realpath(str(folder)))))


@case('R1')
def _work_dir_in_use(env):
    _lock_of(env, os.getppid())  # a live process of this host
    _start(env)


@case('R2')
def _stale_lock(env):
    import subprocess
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    _lock_of(env, dead.pid)
    _, _, lock = _start(env)
    lock.release()


@case('R3')
def _zero_epochs(env):
    _start(env, 'train_cfg.max_epochs=0')


@case('R4')
def _zero_val_interval(env):
    _start(env, 'train_cfg.val_interval=0')


def _batches(env, *options, root=None):
    from mmengine.runner import Runner

    from prvr_mm.engine.run_checks import check_runner_batches
    train, cfg, lock = _start(env, *options)
    lock.release()
    if root is not None:
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            cfg[loader].dataset.data_root = root
    cfg.experiment_name = f'troubleshooting_{osp.basename(str(env.tmp))}'
    check_runner_batches(Runner.from_cfg(cfg))


@case('R5')
def _one_video_split(env):
    root = env.copy()
    path = osp.join(root, 'TextData', 'toytrain.caption.txt')
    with open(path) as f:
        lines = f.readlines()
    video = lines[0].split('#', 1)[0]
    with open(path, 'w') as f:
        f.writelines(line for line in lines if line.startswith(video + '#'))
    _batches(env, 'train_dataloader.drop_last=True', root=root)


@case('R6')
def _drop_last_without_batch(env):
    _batches(env, 'train_dataloader.batch_size=32',
             'train_dataloader.drop_last=True')


@case('R7')
def _last_batch_of_one(env):
    _batches(env, 'train_dataloader.batch_size=23')


def _tiny_run(work, max_epochs, scheduler, **kwargs):
    from tests.helpers.runner import tiny_runner
    tiny_runner(
        work,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        param_scheduler=scheduler,
        default_hooks=dict(
            checkpoint=dict(type='SafeCheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1000)),
        custom_hooks=[dict(type='ResumeIntentHook')],
        **kwargs).train()


@case('R8')
def _resume_frozen_scheduler(env):
    work = str(env.tmp / 'cosine')
    _tiny_run(work, 2, dict(type='CosineAnnealingLR', T_max=2))
    _tiny_run(
        work,
        4,
        dict(type='CosineAnnealingLR', T_max=4),
        resume=True,
        load_from=osp.join(work, 'epoch_2.pth'))


@case('R9')
def _resume_shorter_than_checkpoint(env):
    work = str(env.tmp / 'short')
    _tiny_run(work, 3, dict(type='WarmupLinearLR', by_epoch=True))
    _tiny_run(
        work,
        2,
        dict(type='WarmupLinearLR', by_epoch=True),
        resume=True,
        load_from=osp.join(work, 'epoch_3.pth'))


# ------------------------------------------------ input files read wrongly
def _frame_folder_collection(env, names):
    """A raw-video collection of one frame folder ``videos/v1`` (images
    named ``names``, really encoded), read by PRVRRawVideoDataset."""
    from PIL import Image

    from prvr_mm.datasets.layout import write_captions, write_h5
    root = str(env.tmp / 'raw')
    os.makedirs(osp.join(root, 'videos', 'v1'))
    for i, name in enumerate(names):
        Image.new('RGB', (8, 8),
                  (9 * i, ) * 3).save(osp.join(root, 'videos', 'v1', name))
    write_captions(osp.join(root, 'train.txt'), [('v1#enc#0', 'a cat')])
    write_h5(osp.join(root, 'text.hdf5'), {'v1#enc#0': np.ones((3, 4))})
    DATASETS.build(
        dict(
            type='PRVRRawVideoDataset',
            data_root=root,
            ann_file='train.txt',
            text_feature='text.hdf5')).full_init()


@case('D15')
def _frame_names_in_two_schemes(env):
    _frame_folder_collection(env, ['1.jpg', 'img_00002.jpg'])


@case('D16')
def _ffmpeg_frames_default_template(env):
    _frame_folder_collection(env, [f'{i}.jpg' for i in range(1, 13)])


@case('D17')
def _frame_missing(env):
    _frame_folder_collection(env, [f'{i}.jpg' for i in range(1, 13) if i != 3])


@case('D18')
def _merged_bigfile_packs(env):
    root = env.copy()
    folder = osp.join(root, 'FeatureData', 'toy_i3d')
    with open(osp.join(folder, 'shape.txt')) as f:
        num, dim = (int(x) for x in f.read().split())
    for name, sep in (('feature.bin', b''), ('id.txt', b' ')):
        with open(osp.join(folder, name), 'rb') as f:
            data = f.read()
        with open(osp.join(folder, name), 'wb') as f:
            f.write(data + sep + data)
    with open(osp.join(folder, 'shape.txt'), 'w') as f:
        f.write(f'{2 * num} {dim}')
    env.dataset(root)


def _edit_toy_meta(root, edit):
    import json
    path = osp.join(root, 'TextData', 'toy_meta.json')
    with open(path) as f:
        meta = json.load(f)
    edit(meta)
    with open(path, 'w') as f:
        json.dump(meta, f)


@case('D19')
def _timestamps_in_frames(env):
    root = env.copy()

    def in_frames(meta):
        for query in meta['queries'].values():
            query['timestamps'] = [30 * t for t in query['timestamps']]

    _edit_toy_meta(root, in_frames)
    env.dataset(root, meta_file='TextData/toy_meta.json')


@case('D20')
def _negative_duration_in_checker(env):
    import subprocess
    root = str(env.tmp / 'root' / 'toy')  # the checker takes ROOT toy
    shutil.copytree(env.toy_root, root)
    _edit_toy_meta(
        root, lambda m: m['videos']['toy_val_00003'].update(duration=-4.0))
    run = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'data', 'check_dataset.py'),
        osp.dirname(root),
        osp.basename(root), '--visual-feature', 'toy_i3d', '--video-dim', '32',
        '--query-dim', '16', '--teacher-dim', '8'
    ],
                         capture_output=True,
                         text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert run.returncode == 1, run.stdout + run.stderr
    print(run.stdout)


@case('D21')
def _caption_not_utf8(env):
    root = env.copy()
    path = osp.join(root, 'TextData', 'toytrain.caption.txt')
    with open(path, 'rb') as f:
        lines = f.read().split(b'\n')
    lines[2] = lines[2][:49] + 'é'.encode('latin1') + lines[2][50:]
    with open(path, 'wb') as f:
        f.write(b'\n'.join(lines))
    env.dataset(root)


@case('D22')
def _hash_in_video_id(env):
    root = env.copy()
    with open(osp.join(root, 'TextData', 'toytrain.caption.txt'), 'a') as f:
        f.write('my#video#enc#0 a person walks in\n')
    env.dataset(root)


@case('D23')
def _h5_locked(env):
    from tests.helpers.locks import h5_held_open
    path = osp.join(env.toy_root, 'TextData', 'roberta_toy_query_feat.hdf5')
    with h5_held_open(path):
        env.dataset()


# ------------------------------------------------ search, optional packages
def _demo():
    spec = importlib.util.spec_from_file_location(
        '_demo_prvr_search', osp.join(ROOT, 'demo', 'prvr_search.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@case('S1')
def _search_with_another_architecture(env):
    from prvr_mm.apis import PRVRInferencer
    PRVRInferencer(env.cfg(), env.checkpoint(inheritance=dict(hidden_dim=32)))


@case('S2')
def _index_raw_videos(env):
    from prvr_mm.apis import PRVRInferencer
    from prvr_mm.datasets.toy_videos import make_toy_videos
    make_toy_videos(
        str(env.tmp / 'mine'), num_videos=3, seed=0, duration=(1.0, 1.5))
    PRVRInferencer(env.cfg(),
                   env.checkpoint()).index(str(env.tmp / 'mine' / 'videos'))


@case('S3')
def _long_query(env):
    from prvr_mm.apis import PRVRInferencer
    inferencer = PRVRInferencer(
        env.cfg(),
        env.checkpoint(),
        text_encoder=dict(type='ToyTextEncoder', data_root=env.toy_root))
    inferencer.index('test')
    print(
        inferencer.search(' '.join(['someone carries the cup'] *
                                   5))[0]['note'])


@case('S4')
def _missing_package(env):
    import subprocess
    hidden = env.tmp / 'not_installed'
    hidden.mkdir()
    (hidden / 'av.py').write_text(
        'raise ModuleNotFoundError("No module named \'av\'", name="av")\n')
    videos = env.tmp / 'videos'
    videos.mkdir()
    (videos / 'v0.mp4').write_bytes(b'not decoded: PyAV is checked first')
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'data', 'extract_clip_features.py'),
        str(videos),
        str(env.tmp), 'mine', '--fps', '1'
    ],
                          env=dict(
                              os.environ,
                              PYTHONPATH=os.pathsep.join([str(hidden), ROOT])),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    print(proc.stderr)


@case('S5')
def _port_in_use(env):
    import socket
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        _demo().check_port('127.0.0.1', busy.getsockname()[1])
