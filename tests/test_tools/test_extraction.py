"""Raw videos + captions -> the three extraction tools -> a complete MS-SL
collection -> ``tools/train.py`` -> ``tools/test.py``, with real tiny models
(random weights saved locally, loaded through the real paths), real
subprocesses, a real ``torchrun`` and a real SIGINT."""
import contextlib
import io
import json
import os
import os.path as osp
import re
import runpy
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest
import torch

from prvr_mm.datasets.check import check_dataset
from prvr_mm.datasets.feature_spec import read_spec
from prvr_mm.datasets.feature_times import read_times
from prvr_mm.datasets.layout import teacher_text_key
from prvr_mm.datasets.readers import BigFileReader, parse_caption_file
from prvr_mm.datasets.toy_videos import make_toy_videos
from prvr_mm.errors import PRVRConfigError
from prvr_mm.extraction.clip_features import extract_clip_features
from prvr_mm.extraction.common import ShardedH5Output
from prvr_mm.extraction.decoding import clip_indices
from prvr_mm.extraction.text_features import extract_text_features
from prvr_mm.extraction.video_features import (extract_video_features,
                                               pool_features)
from prvr_mm.models.teachers.open_clip_utils import build_clip
from tests.helpers.tiny_models import (make_tiny_recognizer, make_tiny_roberta,
                                       write_tiny_clip_config)
from tests.helpers.tools import ROOT, run_tool
from tests.helpers.videos import write_corrupt_mp4

TOOLS = osp.join(ROOT, 'tools')
COLL = 'toyvid'
TIMINGS = {}


def _env():
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='2')


def _run(args):
    return run_tool(*args, cwd=ROOT, threads=2)


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    """Videos (mp4 + one frame folder + one corrupt file), captions and the
    tiny models saved as a user would have them."""
    base = tmp_path_factory.mktemp('extract')
    root = str(base / 'data')
    coll = osp.join(root, COLL)
    make_toy_videos(
        coll,
        num_videos=dict(train=8, val=3, test=3),
        seed=0,
        frame_folders=1,
        duration=(3.0, 5.0),
        moment_len=(1.0, 1.5))
    write_corrupt_mp4(osp.join(coll, 'videos', f'{COLL}_corrupt.mp4'))
    sentences = [
        s for split in ('train', 'val', 'test') for _, s in parse_caption_file(
            f'{coll}/TextData/{COLL}{split}.caption.txt')
    ]
    models = base / 'models'
    clip_cfg = write_tiny_clip_config(str(models / 'tiny-clip.json'))
    torch.manual_seed(0)
    clip = build_clip(dict(model_cfg=clip_cfg)).model
    clip_weights = str(models / 'tiny-clip.pt')
    torch.save(clip.state_dict(), clip_weights)
    roberta = make_tiny_roberta(str(models / 'tiny-roberta'), sentences)
    rec_cfg = make_tiny_recognizer(
        str(models / 'x3d_tiny.py'), str(models / 'x3d_tiny.pth'), kind='3d')
    return dict(
        root=root,
        coll=coll,
        videos=osp.join(coll, 'videos'),
        clip_cfg=clip_cfg,
        clip_weights=clip_weights,
        roberta=roberta,
        rec_cfg=rec_cfg,
        rec_ckpt=str(models / 'x3d_tiny.pth'),
        base=str(base))


def _clip_args(a, *extra):
    return [
        osp.join(TOOLS, 'data', 'extract_clip_features.py'), a['videos'],
        a['root'], COLL, '--student-features', 'FeatureData/x3d',
        '--model-config', a['clip_cfg'], '--pretrained', a['clip_weights'],
        '--batch-size', '8', '--workers', '1', '--no-progress', *extra
    ]


def _tool(args):
    """Run a tool's command line (``main(argv)``) in this process: the
    same code path as the shell command, without paying the imports again
    (the subprocess tests below launch them for real)."""
    main = runpy.run_path(args[0])['main']
    assert main(args[1:]) == 0


@pytest.fixture(scope='module')
def extracted(assets):
    """The three tools' command lines, in the order of docs/datasets.md."""
    a = assets
    t0 = time.perf_counter()
    _tool([
        osp.join(TOOLS, 'data',
                 'extract_video_features.py'), a['rec_cfg'], a['videos'],
        osp.join(a['coll'], 'FeatureData', 'x3d'), '--checkpoint',
        a['rec_ckpt'], '--workers', '1', '--no-progress'
    ])
    _tool([
        osp.join(TOOLS, 'data', 'extract_text_features.py'), a['root'], COLL,
        '--model', a['roberta'], '--no-progress'
    ])
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        _tool(_clip_args(a))
    TIMINGS['extraction_s'] = time.perf_counter() - t0
    return dict(a, clip_log=log.getvalue())


def _h5(path):
    with h5py.File(path, 'r') as f:
        return {k: f[k][()] for k in f.keys()}


def _paths(a):
    fd = osp.join(a['coll'], 'FeatureData')
    td = osp.join(a['coll'], 'TextData')
    return dict(
        student=osp.join(fd, 'x3d'),
        tvid=osp.join(fd, f'new_clip_vit_32_{COLL}_vid_features.hdf5'),
        tskip=osp.join(fd, f'new_clip_vit_32_{COLL}_vid_features.skipped.txt'),
        ttext=osp.join(td, f'clip_ViT_B_32_{COLL}_query_feat.hdf5'),
        query=osp.join(td, f'roberta_{COLL}_query_feat.hdf5'))


def _all_ids(a):
    caps = [
        c for s in ('train', 'val', 'test') for c, _ in parse_caption_file(
            f"{a['coll']}/TextData/{COLL}{s}.caption.txt")
    ]
    vids = sorted({c.split('#')[0] for c in caps})
    return caps, vids


def test_layout_checker_and_skip_list(extracted):
    a, p = extracted, _paths(extracted)
    caps, vids = _all_ids(a)
    assert 'teacher files: OK' in a['clip_log']
    # every readable video is in every video file; only the corrupt one is
    # missing, and it is in the skip lists with the reason
    student = BigFileReader(p['student'], dim=32)
    assert sorted(student.keys()) == vids
    teacher = _h5(p['tvid'])
    assert sorted(teacher) == vids
    for vid in vids:  # one CLIP frame per student time step
        assert teacher[vid].shape == (len(student.frames[vid]), 32)
        assert np.isfinite(teacher[vid]).all()
    assert len(student.frames['toyvid_train_0000']) >= 1  # frame folder
    for skip in (p['tskip'], p['student'] + '.skipped.txt'):
        lines = open(skip).read().splitlines()
        assert len(lines) == 1 and lines[0].startswith('toyvid_corrupt\t')
        assert 'toyvid_corrupt.mp4' in lines[0]
        assert 'Invalid data' in lines[0]
    text = _h5(p['ttext'])
    assert sorted(text) == sorted(teacher_text_key(c) for c in caps)
    assert all(v.shape == (1, 32) for v in text.values())
    query = _h5(p['query'])
    assert sorted(query) == sorted(caps)
    assert all(v.ndim == 2 and v.shape[1] == 32 and v.shape[0] >= 3
               for v in query.values())
    # the sentence embeddings are the model's encode_text of the captions
    bundle = build_clip(
        dict(model_cfg=a['clip_cfg'], pretrained=a['clip_weights']))
    clip, tok = bundle.model, bundle.tokenizer
    cap_id, sentence = parse_caption_file(
        f"{a['coll']}/TextData/{COLL}val.caption.txt")[0]
    torch.testing.assert_close(
        torch.from_numpy(text[teacher_text_key(cap_id)]),
        clip.encode_text(tok([sentence])))
    report = check_dataset(
        a['root'],
        COLL,
        visual_feature='x3d',
        video_dim=32,
        query_dim=32,
        teacher_dim=32)
    assert report.ok, report.format()
    # the dataset reads it, teacher included
    from prvr_mm.datasets import PRVRFeatureDataset
    ds = PRVRFeatureDataset(
        ann_file='TextData/toyvidtrain.caption.txt',
        video_feature='FeatureData/x3d',
        text_feature=f'TextData/roberta_{COLL}_query_feat.hdf5',
        teacher_video_feature=osp.relpath(p['tvid'], a['coll']),
        teacher_text_feature=osp.relpath(p['ttext'], a['coll']),
        meta_file=f'TextData/{COLL}_meta.json',
        video_dim=32,
        text_dim=32,
        teacher_dim=32,
        data_root=a['coll'])
    item = ds.load_features(ds.get_data_info(0))
    assert item['teacher_video_feat'].shape[0] == item['video_feat'].shape[0]


def test_second_run_recomputes_nothing(extracted):
    a, p = extracted, _paths(extracted)
    files = [
        p['tvid'], p['ttext'], p['query'],
        osp.join(p['student'], 'feature.bin')
    ]
    before = {f: (os.stat(f).st_mtime_ns, open(f, 'rb').read()) for f in files}
    summary = extract_clip_features(
        a['videos'],
        a['root'],
        COLL,
        student_features='FeatureData/x3d',
        clip_model=dict(model_cfg=a['clip_cfg'], pretrained=a['clip_weights']),
        workers=0,
        progress=False,
        log=lambda *x: None)
    assert summary['videos_encoded'] == 0 and summary['frames'] == 0
    assert summary['captions_encoded'] == 0
    assert summary['videos_done_before'] == summary['videos_found'] - 1
    assert summary['videos_skipped'] == 1 and summary['check_ok']
    vsum = extract_video_features(
        a['rec_cfg'],
        a['videos'],
        p['student'],
        checkpoint=a['rec_ckpt'],
        workers=0,
        progress=False,
        log=lambda *x: None)
    assert vsum['videos_encoded'] == 0 and vsum['videos_skipped'] == 1
    tsum = extract_text_features([
        f"{a['coll']}/TextData/{COLL}{s}.caption.txt"
        for s in ('train', 'val', 'test')
    ],
                                 p['query'],
                                 model=a['roberta'],
                                 progress=False,
                                 log=lambda *x: None)
    assert tsum['captions_encoded'] == 0
    for f, (mtime, data) in before.items():
        assert os.stat(f).st_mtime_ns == mtime, f'{f} was rewritten'
        assert open(f, 'rb').read() == data
    # a teacher entry whose frame count no longer matches the student
    # features (re-extracted at another rate) is computed again
    vid = 'toyvid_val_0000'
    with h5py.File(p['tvid'], 'a') as f:
        good = f[vid][()]
        del f[vid]
        f[vid] = np.zeros((len(good) + 1, 32), np.float32)
    summary = extract_clip_features(
        a['videos'],
        a['root'],
        COLL,
        student_features='FeatureData/x3d',
        clip_model=dict(model_cfg=a['clip_cfg'], pretrained=a['clip_weights']),
        workers=0,
        do_text=False,
        progress=False,
        check=False,
        log=lambda *x: None)
    assert summary['videos_stale'] == 1 and summary['videos_encoded'] == 1
    np.testing.assert_allclose(_h5(p['tvid'])[vid], good, rtol=1e-5, atol=1e-6)


def test_two_processes_give_the_same_files(extracted):
    a, p = extracted, _paths(extracted)
    out = osp.join(a['base'], 'dist')
    t0 = time.perf_counter()
    _run([
        '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port',
        str(29500 + os.getpid() % 1000)
    ] + _clip_args(a, '--video-out', osp.join(out, 'v.hdf5'), '--text-out',
                   osp.join(out, 't.hdf5'), '--skip-list',
                   osp.join(out, 'skipped.txt'), '--no-check'))
    TIMINGS['torchrun_s'] = time.perf_counter() - t0
    assert sorted(os.listdir(out)) == ['skipped.txt', 't.hdf5', 'v.hdf5']
    for mine, ref in ((osp.join(out, 'v.hdf5'), p['tvid']),
                      (osp.join(out, 't.hdf5'), p['ttext'])):
        got, want = _h5(mine), _h5(ref)
        assert sorted(got) == sorted(want)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6)
        # the merge keeps the CLIP spec and the recorded times
        assert read_spec(mine) == read_spec(ref) is not None
        got_t, want_t = read_times(mine), read_times(ref)
        assert sorted(got_t) == sorted(want_t)
        for k, (d, t) in want_t.items():
            assert got_t[k][0] == d
            np.testing.assert_array_equal(got_t[k][1], t)
    assert open(osp.join(out,
                         'skipped.txt')).read().startswith('toyvid_corrupt\t')


def test_ctrl_c_keeps_what_was_written(extracted):
    """A real SIGINT to the process group (what Ctrl-C sends) in the middle
    of a run: exit 130, every video written is intact, the resumed run
    computes only the rest."""
    a = extracted
    out = osp.join(a['base'], 'sigint')
    vout = osp.join(out, 'v.hdf5')
    args = _clip_args(a, '--video-out', vout, '--text-out',
                      osp.join(out, 't.hdf5'), '--no-check', '--no-text')
    # small items (2 frames): the stop request is seen within one item
    args[args.index('--student-features'):args.index('--student-features') +
         2] = ['--fps', '10']
    args.remove('--no-progress')
    args[args.index('--batch-size') + 1] = '2'
    proc = subprocess.Popen(
        [sys.executable] + args,
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True)
    err, progressed = [], threading.Event()

    def read():
        for chunk in iter(lambda: proc.stderr.read(64), ''):
            err.append(chunk)
            done = [
                int(n) for n in re.findall(r'\| *(\d+)/\d+ ', ''.join(err))
            ]
            if done and max(done) >= 2:
                progressed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert progressed.wait(240), ''.join(err)[-2000:]
    os.killpg(proc.pid, signal.SIGINT)
    stdout = proc.stdout.read()
    assert proc.wait(60) == 130, ''.join(err)[-2000:] + stdout
    reader.join(10)
    assert 'interrupted:' in stdout and 'resume' in stdout
    assert 'Traceback' not in ''.join(err), ''.join(err)[-3000:]
    with pytest.raises(ProcessLookupError):  # workers are gone too
        os.killpg(proc.pid, 0)
    kept = _h5(vout)
    _, vids = _all_ids(a)
    assert 1 <= len(kept) < len(vids), sorted(kept)
    summary = extract_clip_features(
        a['videos'],
        a['root'],
        COLL,
        fps=10,
        clip_model=dict(model_cfg=a['clip_cfg'], pretrained=a['clip_weights']),
        video_out=vout,
        do_text=False,
        workers=0,
        batch_size=2,
        progress=False,
        check=False,
        log=lambda *x: None)
    assert summary['videos_done_before'] == len(kept)
    assert summary['videos_encoded'] == len(vids) - len(kept)
    final = _h5(vout)
    assert sorted(final) == vids
    for k, v in kept.items():
        np.testing.assert_array_equal(final[k], v)


def test_train_and_test_on_extracted_collection(extracted):
    """End to end: the extracted collection trains through tools/train.py
    and evaluates through tools/test.py (real Runner)."""
    a = extracted
    cfg = osp.join(ROOT, 'tests', 'data', 'configs', 'e2e_extracted.py')
    work = osp.join(a['base'], 'work')
    t0 = time.perf_counter()
    _run([
        osp.join(TOOLS, 'train.py'), cfg, '--work-dir', work, '--cfg-options',
        f"data_root={a['coll']}"
    ])
    ckpts = [f for f in os.listdir(work) if f.startswith('best_')]
    assert len(ckpts) == 1, os.listdir(work)
    metrics = osp.join(work, 'metrics.json')
    _run([
        osp.join(TOOLS, 'test.py'), cfg,
        osp.join(work, ckpts[0]), '--work-dir', work, '--out', metrics,
        '--cfg-options', f"data_root={a['coll']}"
    ])
    TIMINGS['train_test_s'] = time.perf_counter() - t0
    with open(metrics) as f:
        result = json.load(f)
    assert 0 <= result['prvr/SumR'] <= 400, result
    total = TIMINGS['extraction_s'] + TIMINGS['train_test_s']
    print(f"\nend-to-end: extraction {TIMINGS['extraction_s']:.1f} s + "
          f"train/test {TIMINGS['train_test_s']:.1f} s = {total:.1f} s")


def test_units_clips_pooling_and_shards(tmp_path):
    np.testing.assert_array_equal(
        clip_indices(10, 4, 2, 4), [[0, 2, 4, 6], [4, 6, 8, 9]])
    np.testing.assert_array_equal(
        clip_indices(12, 4, 2, 4),
        [[0, 2, 4, 6], [4, 6, 8, 10], [8, 10, 11, 11]])
    np.testing.assert_array_equal(clip_indices(2, 4, 1, 4), [[0, 1, 1, 1]])
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(6, 4, 5)
    pooled = pool_features((x, x[:, :2]), num=2)
    assert pooled.shape == (2, 6)
    torch.testing.assert_close(pooled[0, :4], x[:3].mean((0, 2)))
    # shards of two processes merged into one output by rank 0
    path = str(tmp_path / 'out.hdf5')
    for rank in (0, 1):
        shard = ShardedH5Output(path, rank, 2)
        shard.write({f'k{rank}': np.full((2, 3), rank)})
    assert ShardedH5Output(path, 1, 2).merge() == 0  # only rank 0 merges
    assert ShardedH5Output(path, 0, 2).merge() == 2
    assert os.listdir(tmp_path) == ['out.hdf5']
    assert ShardedH5Output(path).done_keys() == {'k0', 'k1'}


def test_2d_recognizer_features(tmp_path):
    """A 2D backbone (MobileNetV2) per frame, pooled over the clip, into
    an h5 output; one unreadable video in the skip list."""
    videos = str(tmp_path / 'videos')
    make_toy_videos(
        str(tmp_path / 'c'),
        num_videos=dict(train=2, val=0, test=0),
        duration=(1.0, 1.5),
        moment_len=(0.4, 0.5))
    os.rename(str(tmp_path / 'c' / 'videos'), videos)
    write_corrupt_mp4(osp.join(videos, 'toyvid_corrupt.mp4'))
    cfg = make_tiny_recognizer(
        str(tmp_path / 'mnv2.py'), kind='2d', clip_len=4)
    out = str(tmp_path / 'feats.hdf5')
    summary = extract_video_features(
        cfg, videos, out, workers=0, progress=False, log=lambda *x: None)
    assert summary['videos_encoded'] == 2 and summary['videos_skipped'] == 1
    feats = _h5(out)
    assert sorted(feats) == ['toyvid_train_0000', 'toyvid_train_0001']
    with open(str(tmp_path / 'c' / 'TextData' / 'toyvid_meta.json')) as f:
        meta = json.load(f)['videos']
    for vid, arr in feats.items():
        n = meta[vid]['num_frames']
        assert arr.shape == (len(clip_indices(n, 4, 1, 4)), 1280)
    assert summary['dim'] == 1280


def test_open_clip_token_features_for_clip_only_configs(tmp_path):
    """``--encoder open_clip`` writes the CLIP-only configs' query input
    (layout ``clip_tokens``): per-token features equal to what the config's
    ``OpenCLIPTextEncoder`` gives a typed sentence (so free-text search sees
    the training features)."""
    from prvr_mm.datasets.layout import collection_paths
    from prvr_mm.models.text_encoders import OpenCLIPTextEncoder
    root = tmp_path / 'data'
    text_dir = root / COLL / 'TextData'
    text_dir.mkdir(parents=True)
    sentences = ['a red circle moves left', 'the blue square goes up fast']
    (text_dir / f'{COLL}train.caption.txt').write_text(''.join(
        f'v{i}#enc#0 {s}\n' for i, s in enumerate(sentences)))
    arch = write_tiny_clip_config(str(tmp_path / 'tiny-clip.json'))
    weights = str(tmp_path / 'tiny-clip.pt')  # random, saved like a user's
    torch.save(build_clip(dict(model_cfg=arch)).model.state_dict(), weights)
    tool = runpy.run_path(osp.join(TOOLS, 'data', 'extract_text_features.py'))
    assert tool['main']([
        str(root), COLL, '--encoder', 'open_clip', '--model-config', arch,
        '--pretrained', weights, '--no-progress'
    ]) == 0
    out = collection_paths(str(root), COLL, visual_feature='-')['clip_tokens']
    enc = OpenCLIPTextEncoder(model_cfg=arch, pretrained=weights).eval()
    with h5py.File(out, 'r') as f, torch.no_grad():
        assert sorted(f) == ['v0#enc#0', 'v1#enc#0']
        for i, sentence in enumerate(sentences):
            feats, mask = enc.encode([sentence])
            n = int(mask.sum())
            assert f[f'v{i}#enc#0'].shape == (n, enc.dim)
            np.testing.assert_allclose(
                f[f'v{i}#enc#0'][()], feats[0, :n].numpy(), atol=1e-5)
    # an open_clip-only option without --encoder open_clip is a user error
    # (the command line prints it as one error line, exit 2)
    with pytest.raises(PRVRConfigError, match='--encoder open_clip'):
        tool['main']([str(root), COLL, '--pretrained', 'openai'])
