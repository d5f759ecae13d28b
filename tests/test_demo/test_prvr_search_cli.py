"""``demo/prvr_search.py`` and the other readers of a checkpoint, run as a
user runs them: a checkpoint of another architecture is refused with the
error of ``tools/test.py`` (nothing indexed, nothing plotted), a query
longer than ``max_desc_l`` tokens is searched with a note saying so, and a
folder of raw videos given to ``--build-index`` names the extraction
command."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from prvr_mm.apis import PRVRInferencer
from prvr_mm.errors import PRVRDataError
from tests.helpers.tools import ROOT
from tests.helpers.tools import TINY_TOY_CFG as CFG
from tests.helpers.tools import save_random_checkpoint

#: 20 words of the toy vocabulary: 20 tokens, the toy reads 16
LONG_QUERY = ' '.join(['someone carries the cup'] * 5)


def _run(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', COLUMNS='400')
    return subprocess.run([sys.executable, *args],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)


def _error_lines(proc):
    return [
        line for line in proc.stderr.splitlines() if line.startswith('error:')
    ]


@pytest.fixture(scope='module')
def other_arch(tmp_path_factory):
    """A checkpoint of the tiny toy model with hidden_dim 32 instead of 16,
    and the model of the config's own architecture."""
    work = tmp_path_factory.mktemp('arch')
    cfg = work / 'wide.py'
    cfg.write_text(f'_base_ = [{CFG!r}]\n'
                   'model = dict(inheritance=dict(hidden_dim=32))\n')
    return dict(
        work=work,
        wide=save_random_checkpoint(str(work / 'wide.pth'), str(cfg)),
        good=save_random_checkpoint(str(work / 'good.pth')))


def _assert_refused(proc, ckpt):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    errors = _error_lines(proc)
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(
        f'error: checkpoint {ckpt} does not fit the model of the config')
    # every mismatched key with both shapes, and the fix
    assert 'size mismatch inheritance.' in proc.stderr
    assert 'checkpoint (32,' in proc.stderr and 'model (16,' in proc.stderr
    assert 'use the config it was trained with' in proc.stderr


def test_demo_refuses_a_checkpoint_of_another_architecture(
        other_arch, tiny_toy_root):
    index = str(other_arch['work'] / 'wide.index.h5')
    proc = _run(
        osp.join(ROOT, 'demo', 'prvr_search.py'), CFG, other_arch['wide'],
        '--index', index, '--build-index', 'test', '--data-root',
        tiny_toy_root, '--query', 'someone carries the cup')
    _assert_refused(proc, other_arch['wide'])
    assert not osp.exists(index)
    assert 'indexed' not in proc.stdout


def test_plot_and_dump_refuse_it_too(other_arch, tiny_toy_root):
    out = str(other_arch['work'] / 'fig.png')
    proc = _run(
        osp.join(ROOT, 'tools', 'analysis', 'plot_similarity.py'), CFG,
        other_arch['wide'], '--query', 'toy_test_00000#enc#0', '--out', out,
        '--cfg-options', f'data_root={tiny_toy_root}')
    _assert_refused(proc, other_arch['wide'])
    assert not osp.exists(out)
    dump = str(other_arch['work'] / 'rankings.json')
    proc = _run(
        osp.join(ROOT, 'tools',
                 'test.py'), CFG, other_arch['wide'], '--work-dir',
        str(other_arch['work'] / 'test'), '--dump', dump, '--cfg-options',
        f'data_root={tiny_toy_root}')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert 'does not fit the model of the config' in proc.stderr
    assert not osp.exists(dump)


def test_inferencer_refuses_it(other_arch):
    from prvr_mm.utils import CheckpointMismatchError
    with pytest.raises(CheckpointMismatchError, match='size mismatch'):
        PRVRInferencer(CFG, other_arch['wide'])


@pytest.fixture(scope='module')
def toy_index(other_arch, tiny_toy_root):
    inferencer = PRVRInferencer(
        CFG,
        other_arch['good'],
        text_encoder=dict(type='ToyTextEncoder', data_root=tiny_toy_root))
    path = str(other_arch['work'] / 'toy.index.h5')
    inferencer.index('test', path, data_root=tiny_toy_root)
    return dict(inferencer=inferencer, path=path)


def test_long_query_is_searched_with_a_note(toy_index):
    inferencer = toy_index['inferencer']
    assert inferencer.max_query_tokens == 16
    long, short = inferencer.search([LONG_QUERY, 'carries the cup'], top_k=3)
    assert long['query_tokens'] == 20 and long['truncated_tokens'] == 4
    assert 'the model reads the first 16 (max_desc_l)' in long['note']
    assert 'the last 4 were left out' in long['note']
    assert 'truncated_tokens' not in short and 'note' not in short
    # the ranking is the one of the first 16 tokens
    first16 = ' '.join(LONG_QUERY.split()[:16])
    cut = inferencer.search(first16, top_k=3)[0]
    assert [r['video_id'] for r in long['results']] == \
        [r['video_id'] for r in cut['results']]
    # with top_k beyond the index, both notes are kept
    both = inferencer.search(LONG_QUERY, top_k=50)[0]
    assert 'max_desc_l' in both['note'] and 'exceeds the 12' in both['note']
    # and the page shows it
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'search_page', osp.join(ROOT, 'demo', 'search_page.py'))
    page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(page)
    html = page.render_results(
        inferencer.search(LONG_QUERY, top_k=3, return_curves=True)[0])
    assert 'class="prvr-note"' in html and 'max_desc_l' in html


def test_long_query_note_in_the_terminal(toy_index, other_arch, tiny_toy_root,
                                         tmp_path):
    out = str(tmp_path / 'out.json')
    proc = _run(
        osp.join(ROOT, 'demo',
                 'prvr_search.py'), CFG, other_arch['good'], '--index',
        toy_index['path'], '--query', LONG_QUERY, '--top-k', '3', '--json',
        out, '--cfg-options', f'text_encoder.data_root={tiny_toy_root}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'the query has 20 tokens; the model reads the first 16' in \
        proc.stdout
    with open(out) as f:
        pred = json.load(f)[0]
    assert pred['truncated_tokens'] == 4


def test_build_index_from_raw_videos_names_the_extraction(toy_index, tmp_path):
    from prvr_mm.datasets.toy_videos import make_toy_videos
    make_toy_videos(
        str(tmp_path / 'mine'), num_videos=3, seed=0, duration=(1.0, 1.5))
    videos = str(tmp_path / 'mine' / 'videos')
    with pytest.raises(PRVRDataError) as err:
        toy_index['inferencer'].index(videos, str(tmp_path / 'i.h5'))
    message = str(err.value)
    assert f'{videos} is a folder of 3 raw videos, not features' in message
    assert f'tools/data/extract_clip_features.py {videos}' in message
    assert not osp.exists(tmp_path / 'i.h5')


def _doc_commands(path, heading):
    """The commands of the first shell block under ``heading`` (comments
    dropped, continuation lines joined) and the extras of the install line
    the reader has at that point (the block's own, else the doc's first)."""
    with open(path) as f:
        text = f.read()
    block = re.split(r'```(?:shell|bash)\n', text.split(heading, 1)[1], 1)[1]
    block = block.split('```', 1)[0].replace('\\\n', ' ')
    commands = [
        line.split('#', 1)[0].strip() for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith('#')
    ]
    installs = re.findall(r'pip install -e "\.\[([\w,]+)\]"', block) or \
        re.findall(r'pip install -e "\.\[([\w,]+)\]"', text)[:1]
    return commands, set(','.join(installs).split(','))


def test_from_a_folder_of_videos_to_the_page_as_documented(
        other_arch, tiny_toy_root, tmp_path):
    """docs/search.md (and the README's copy): extract the CLIP frames of a
    folder of videos with --no-text --video-out, index them, search. Only
    what cannot run offline is replaced: the tiny CLIP for
    ``--pretrained openai`` (its 32-d frames fit the tiny toy model), the
    toy text encoder's words for the sentence; ``--serve`` is left out."""
    import shlex

    import torch

    from prvr_mm.datasets.toy_videos import make_toy_videos
    from prvr_mm.models.teachers.open_clip_utils import build_clip
    from tests.helpers.tiny_models import write_tiny_clip_config
    make_toy_videos(
        str(tmp_path / 'gen'), num_videos=3, seed=0, duration=(2.0, 3.0))
    os.rename(tmp_path / 'gen' / 'videos', tmp_path / 'my_videos')
    clip_cfg = write_tiny_clip_config(str(tmp_path / 'tiny-clip.json'))
    torch.manual_seed(0)
    torch.save(
        build_clip(dict(model_cfg=clip_cfg)).model.state_dict(),
        str(tmp_path / 'tiny-clip.pt'))
    tiny_clip_options = (
        f'--cfg-options model.embed_dim=32 text_encoder.model_cfg={clip_cfg} '
        f'text_encoder.pretrained={tmp_path}/tiny-clip.pt')
    readme, readme_extras = _doc_commands(
        osp.join(ROOT, 'README.md'), '## Search your own videos')
    commands, extras = _doc_commands(
        osp.join(ROOT, 'docs', 'search.md'),
        '## Search on day one, without training')
    # the install lines shown bring what the commands import (PyAV, gradio)
    assert {'extract', 'demo'} <= extras and {'extract', 'demo'} <= \
        readme_extras, (extras, readme_extras)
    # the README shows the same commands: they are run once, here
    commands = [
        c for c in commands if '--serve' not in c and not c.startswith('pip ')
    ]
    assert [' '.join(c.split()) for c in readme
            if not c.startswith('pip ') and '--serve' not in c] == \
        [' '.join(c.split()) for c in commands]
    assert len(commands) == 3, commands
    for command in commands:
        args = shlex.split(
            command.replace(
                '--pretrained openai',
                f'--model-config {clip_cfg} --pretrained '
                f'{tmp_path}/tiny-clip.pt --workers 0').replace(
                    '.index.h5', '.index.h5 ' +
                    tiny_clip_options).replace('configs/',
                                               osp.join(ROOT, 'configs') +
                                               '/'))
        assert args[0] == 'python'
        proc = _run(osp.join(ROOT, args[1]), *args[2:], cwd=str(tmp_path))
        assert proc.returncode == 0, (command, proc.stdout[-3000:] +
                                      proc.stderr[-3000:])
        if 'extract_clip_features' in command:
            assert 'FAILED' not in proc.stdout
            assert 'video file data/mine/clip_frames.hdf5: OK (3 videos; 0 ' \
                'skipped)' in proc.stdout
        elif '--build-index' in command:
            assert 'indexed 3 videos' in proc.stdout
        else:
            assert 'top 3 of 3 videos' in proc.stdout
