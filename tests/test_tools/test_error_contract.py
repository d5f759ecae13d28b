"""Every tool keeps the one error contract (``prvr_mm.utils.cli.run_tool``):
a user mistake -- a bad path, option or file, a missing optional package, a
port in use -- prints exactly one ``error: ...`` line naming it, exits with
status 2 and shows no traceback; ``--debug`` shows the traceback instead.

Each row runs the real tool as a subprocess with one mistake. A missing
package is made real by a folder first on ``PYTHONPATH`` whose module of
that name raises ``ModuleNotFoundError`` on import (as Python does when the
package is not installed).
"""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest

from tests.helpers.tools import ROOT, TINY_TOY_CFG

#: (row id, command line (``{tmp}`` and ``{toy}`` are filled in), packages
#: hidden, what the error line must say)
ROWS = [
    ('train', ['tools/train.py', '{tmp}/no_config.py'], (),
     'config file not found: {tmp}/no_config.py'),
    ('test', ['tools/test.py', '{tmp}/no_config.py',
              '{tmp}/x.pth'], (), 'config file not found: {tmp}/no_config.py'),
    ('plot_similarity', [
        'tools/analysis/plot_similarity.py', TINY_TOY_CFG, '{tmp}/x.pth',
        '--query', 'q#enc#0', '--split', 'train', '--cfg-options',
        'train_dataloader=None'
    ], (), 'has no train_dataloader: pick another --split'),
    ('toy_ablation',
     ['tools/analysis/toy_ablation.py', '--no-train', '--work-dir',
      '{tmp}'], (), 'test_metrics.json not found: train first'),
    ('check_dataset', [
        'tools/data/check_dataset.py', '{toy}/..', 'toy', '--json',
        '{tmp}/no_dir/stats.json'
    ], (), '--json {tmp}/no_dir/stats.json: folder {tmp}/no_dir does not '
     'exist'),
    ('extract_clip_features', [
        'tools/data/extract_clip_features.py', '{tmp}/no_videos', '{tmp}',
        'mine', '--fps', '1'
    ], (), 'video folder not found: {tmp}/no_videos'),
    ('extract_text_features',
     ['tools/data/extract_text_features.py', '{tmp}',
      'mine'], (), 'no caption file found in {tmp}/mine/TextData'),
    ('extract_video_features', [
        'tools/data/extract_video_features.py', '{tmp}/i3d.py', '{tmp}',
        '{tmp}/out.hdf5'
    ], (), 'config file not found: {tmp}/i3d.py'),
    ('make_toy_dataset', ['tools/data/make_toy_dataset.py',
                          '{tmp}'], (), '{tmp} already exists'),
    ('make_toy_videos',
     ['tools/data/make_toy_videos.py', '{tmp}/v', '--options',
      '{{"size"'], (), "argument --options: '{{\"size\"' is not JSON"),
    ('dldkd_to_prvr_mm', [
        'tools/model_converters/dldkd_to_prvr_mm.py', '{tmp}/authors.ckpt',
        '{tmp}/out.pth'
    ], (), 'checkpoint {tmp}/authors.ckpt does not exist'),
    ('prvr_search', [
        'demo/prvr_search.py', TINY_TOY_CFG, '{tmp}/x.pth', '--index',
        '{tmp}/no.index.h5', '--query', 'a cup'
    ], (), 'search index not found: {tmp}/no.index.h5'),
    ('extract_clip_features_no_av', [
        'tools/data/extract_clip_features.py', '{toy_videos}', '{tmp}', 'mine',
        '--fps', '1'
    ], ('av', ), "tools/data/extract_clip_features.py needs 'av', which is "
     'not installed: pip install -e ".[extract]"'),
    ('extract_video_features_no_av', [
        'tools/data/extract_video_features.py', '{tmp}/recognizer.py',
        '{toy_videos}', '{tmp}/out.hdf5'
    ], ('av', ), "tools/data/extract_video_features.py needs 'av'"),
    ('extract_text_features_no_transformers', [
        'tools/data/extract_text_features.py', '{toy}/..', 'toy', '--model',
        'roberta-base'
    ], ('transformers', ), "tools/data/extract_text_features.py needs "
     "'transformers', which is not installed: pip install -e "
     '".[extract]"'),
    ('prvr_search_serve_no_gradio', [
        'demo/prvr_search.py', TINY_TOY_CFG, '{tmp}/x.pth', '--index',
        '{tmp}/no.index.h5', '--serve'
    ], ('gradio', ), "demo/prvr_search.py --serve needs 'gradio', which is "
     'not installed: pip install -e ".[demo]"'),
    ('prvr_search_ann_no_faiss', [
        'demo/prvr_search.py', TINY_TOY_CFG, '{tmp}/x.pth', '--index',
        '{tmp}/i.h5', '--build-index', 'test', '--ann', 'Flat'
    ], ('faiss', ), "needs 'faiss', which is not installed: pip install -e "
     '".[search]"'),
]

ERROR_LINE = re.compile(r'(^|: )error: ')


def _hide(folder, packages):
    """A folder whose modules stand for packages that are not installed."""
    os.makedirs(folder, exist_ok=True)
    for name in packages:
        with open(osp.join(folder, f'{name}.py'), 'w') as f:
            f.write(f'raise ModuleNotFoundError("No module named {name!r}", '
                    f'name={name!r})\n')
    return folder


def run(args, tmp_path, hidden=()):
    path = [ROOT]
    if hidden:
        path.insert(0, _hide(str(tmp_path / 'not_installed'), hidden))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(path), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, *args],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)


def assert_one_error_line(proc, expected):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.search(line)]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert expected in errors[0], f'{expected!r} not in {errors[0]!r}'
    return errors[0]


@pytest.fixture(scope='module')
def toy_videos(tmp_path_factory):
    """Three real mp4 files."""
    from prvr_mm.datasets.toy_videos import make_toy_videos
    root = str(tmp_path_factory.mktemp('contract') / 'vids')
    make_toy_videos(root, num_videos=3, seed=0, duration=(1.0, 1.5))
    return osp.join(root, 'videos')


def test_every_tool_has_a_row():
    """Every script under tools/ and demo/prvr_search.py is in the table."""
    scripts = {
        osp.relpath(osp.join(d, f), ROOT)
        for base in ('tools', )
        for d, _, files in os.walk(osp.join(ROOT, base))
        for f in files if f.endswith('.py')
    } | {'demo/prvr_search.py'}
    tried = {args[0] for _, args, _, _ in ROWS}
    assert scripts <= tried, sorted(scripts - tried)


@pytest.mark.parametrize(
    'row,args,hidden,expected', ROWS, ids=[r[0] for r in ROWS])
def test_user_mistake_is_one_error_line(row, args, hidden, expected, tmp_path,
                                        tiny_toy_root, toy_videos):
    (tmp_path / 'recognizer.py').write_text('model = dict()\n')
    fill = dict(tmp=str(tmp_path), toy=tiny_toy_root, toy_videos=toy_videos)
    args = [a.format(**fill) for a in args]
    expected = expected.format(**fill)
    assert_one_error_line(run(args, tmp_path, hidden), expected)


def test_debug_shows_the_traceback(tmp_path):
    proc = run([
        'tools/data/extract_text_features.py',
        str(tmp_path), 'mine', '--debug'
    ], tmp_path)
    assert proc.returncode == 1
    assert 'Traceback' in proc.stderr
    assert 'PRVRDataError: no caption file found' in proc.stderr


def test_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run([
            'demo/prvr_search.py', TINY_TOY_CFG,
            str(tmp_path / 'x.pth'), '--index',
            str(tmp_path / 'no.index.h5'), '--serve', '--port',
            str(port)
        ], tmp_path)
    assert_one_error_line(proc, f'--serve: cannot listen on 127.0.0.1:{port}')
    assert f'--port {port + 1}' in proc.stderr


def test_raw_video_dataset_without_pyav(tiny_raw_root, tmp_path):
    """The raw-video dataset refuses to start without PyAV (formerly every
    video failed at decoding time)."""
    code = ('import prvr_mm; from prvr_mm.datasets import '
            'PRVRRawVideoDataset as D; '
            f'D(data_root={tiny_raw_root!r}, '
            'ann_file="TextData/toyvidtrain.caption.txt", '
            'text_feature="TextData/hashword_toyvid_query_feat.hdf5", '
            'text_dim=32).full_init()')
    hide = _hide(str(tmp_path / 'not_installed'), ('av', ))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([hide, ROOT]))
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert "DependencyError: PRVRRawVideoDataset" in proc.stderr
    assert "needs 'av', which is not installed: pip install -e " \
        '".[extract]"' in proc.stderr
