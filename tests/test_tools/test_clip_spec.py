"""One CLIP model spec, recorded in every file it makes: extraction with a
tiny CLIP (GELU), then training (the real ``tools/train.py``), the online
teacher and the search index refuse the files under another spec
(QuickGELU, other weights) with a named error, and accept them under the
same spec."""
import os.path as osp
import runpy
import shutil
import warnings

import h5py
import pytest
import torch

from prvr_mm.datasets.feature_spec import (SPEC_ATTR, check_spec,
                                           clip_spec_record, read_spec)
from prvr_mm.datasets.layout import collection_paths, write_h5
from prvr_mm.datasets.toy_videos import make_toy_videos
from prvr_mm.errors import PRVRDataError
from prvr_mm.extraction.clip_features import extract_clip_features
from prvr_mm.models.teachers import CLIPTeacherHead
from prvr_mm.models.teachers.open_clip_utils import build_clip
from tests.helpers.tiny_models import (make_tiny_recognizer,
                                       write_tiny_clip_config)
from tests.helpers.tools import ROOT, run_tool, save_random_checkpoint

COLL = 'toyvid'


def _main(*parts):
    return runpy.run_path(osp.join(ROOT, *parts))['main']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """A toy collection whose student features (tiny X3D), query tokens
    and teacher files (tiny CLIP, ``quick_gelu=False``) come from the real
    extraction tools."""
    base = tmp_path_factory.mktemp('clip_spec')
    root = str(base / 'data')
    coll = osp.join(root, COLL)
    make_toy_videos(
        coll,
        num_videos=dict(train=4, val=2, test=2),
        seed=0,
        duration=(1.5, 2.5),
        moment_len=(0.5, 1.0))
    rec = make_tiny_recognizer(
        str(base / 'x3d.py'), str(base / 'x3d.pth'), kind='3d')
    assert _main('tools', 'data', 'extract_video_features.py')([
        rec,
        osp.join(coll, 'videos'),
        osp.join(coll, 'FeatureData', 'x3d'), '--checkpoint',
        str(base / 'x3d.pth'), '--workers', '0', '--no-progress'
    ]) == 0
    arch = write_tiny_clip_config(str(base / 'tiny-clip.json'))
    torch.manual_seed(0)
    weights = str(base / 'tiny-clip.pt')
    torch.save(build_clip(dict(model_cfg=arch)).model.state_dict(), weights)
    torch.manual_seed(1)  # other weights, another file name
    other = str(base / 'other-clip.pt')
    torch.save(build_clip(dict(model_cfg=arch)).model.state_dict(), other)
    clip_args = ['--model-config', arch, '--pretrained', weights]
    assert _main('tools', 'data', 'extract_text_features.py')([
        root, COLL, '--encoder', 'open_clip', *clip_args, '--no-quick-gelu',
        '--no-progress'
    ]) == 0
    assert _main('tools', 'data', 'extract_clip_features.py')([
        osp.join(coll, 'videos'), root, COLL, '--student-features',
        'FeatureData/x3d', *clip_args, '--no-quick-gelu', '--workers', '0',
        '--no-progress', '--no-check'
    ]) == 0
    return dict(
        base=base,
        root=root,
        coll=coll,
        arch=arch,
        weights=weights,
        other=other,
        paths=collection_paths(root, COLL, visual_feature='x3d'))


def _spec(data, quick_gelu=False, weights=None):
    return dict(
        model_cfg=data['arch'],
        pretrained=weights or data['weights'],
        quick_gelu=quick_gelu)


def _config(data, name, quick_gelu=False, weights=None, search_qg=None):
    """The extracted collection's config (query input: the CLIP tokens) with
    a CLIP spec for the dataset and the search's text encoder (its own
    ``quick_gelu`` with ``search_qg``)."""
    spec = _spec(data, quick_gelu, weights)
    search = spec if search_qg is None else dict(spec, quick_gelu=search_qg)
    tokens = osp.relpath(data['paths']['clip_tokens'], data['coll'])
    path = data['base'] / f'{name}.py'
    path.write_text(f"""
_base_ = [{osp.join(ROOT, 'tests', 'data', 'configs',
                    'e2e_extracted.py')!r}]
data_root = {data['coll']!r}
_clip = {spec!r}
_ds = dict(data_root=data_root, text_feature={tokens!r}, clip_model=_clip)
train_dataloader = dict(dataset=_ds)
val_dataloader = dict(dataset=_ds)
test_dataloader = dict(dataset=_ds)
train_cfg = dict(max_epochs=1)
text_encoder = dict(type='OpenCLIPTextEncoder', **{search!r})
""")
    return str(path)


def test_every_file_records_the_spec(data):
    bundle = build_clip(_spec(data))
    want = clip_spec_record(_spec(data), bundle.model)
    assert want['quick_gelu'] is False and want['pretrained'] == \
        'tiny-clip.pt' and want['image_size'] == 32
    assert len(want['weights']) == 16
    p = data['paths']
    for path in (p['teacher_video'], p['teacher_text'], p['clip_tokens']):
        assert read_spec(path) == want, path
    # the weights hash tells the two weights files apart
    other = clip_spec_record(
        _spec(data, weights=data['other']),
        build_clip(_spec(data, weights=data['other'])).model)
    assert other['weights'] != want['weights']
    # the student features (not a CLIP) record none
    assert read_spec(p['video']) is None


def test_train_refuses_another_spec_and_runs_with_the_same(data):
    """The real ``tools/train.py``: QuickGELU against GELU files is one
    ``error:`` line naming the file, both specs and the fix; the same spec
    trains."""
    work = str(data['base'] / 'work_qg')
    proc = run_tool(
        osp.join(ROOT, 'tools', 'train.py'),
        _config(data, 'qg', quick_gelu=True),
        '--work-dir',
        work,
        cwd=ROOT,
        check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = [x for x in proc.stderr.splitlines() if x.startswith('error:')]
    assert len(line) == 1, proc.stderr[-3000:]
    msg = line[0]
    assert data['paths']['teacher_video'] in msg
    assert 'teacher video features were extracted with CLIP' in msg
    assert "quick_gelu=False" in msg and 'quick_gelu=True' in msg
    assert 'differ in quick_gelu' in msg and 'Fix: extract the file' in msg
    assert 'Traceback' not in proc.stderr
    work = str(data['base'] / 'work_same')
    proc = run_tool(
        osp.join(ROOT, 'tools', 'train.py'),
        _config(data, 'same'),
        '--work-dir',
        work,
        cwd=ROOT,
        check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))


def test_dataset_refuses_other_weights(data):
    from mmengine.config import Config

    from prvr_mm.datasets import PRVRFeatureDataset
    cfg = Config.fromfile(_config(data, 'other', weights=data['other']))
    ds = cfg.train_dataloader.dataset
    ds.pop('type')
    with pytest.raises(PRVRDataError) as e:
        PRVRFeatureDataset(**ds)
    assert "pretrained='tiny-clip.pt'" in str(e.value)
    assert "pretrained='other-clip.pt'" in str(e.value)
    assert 'differ in pretrained' in str(e.value)


def test_search_index_refuses_another_text_encoder(data, capsys):
    """``demo/prvr_search.py --build-index test``: the config's open_clip
    text encoder against the query files of the split (the dataset's own
    spec matches them)."""
    for name, qg, code in (('search_qg', True, 2), ('search_same', False, 0)):
        cfg = _config(data, name, search_qg=qg)
        ckpt = save_random_checkpoint(str(data['base'] / f'{name}.pth'), cfg)
        try:
            got = _main('demo', 'prvr_search.py')([
                cfg, ckpt, '--index',
                str(data['base'] / f'{name}.index.h5'), '--build-index',
                'test', '--query', 'a red circle'
            ])
        except SystemExit as exit_:  # a user error: status 2
            got = exit_.code
        err = capsys.readouterr().err
        assert got == code, err[-3000:]
        if code:
            assert err.startswith(
                'error: ') and data['paths']['clip_tokens'] in err
            assert 'query features were extracted with CLIP' in err
            assert "the config's text_encoder is" in err
            assert 'differ in quick_gelu' in err


def test_online_teacher_checks_the_weights_hash(data, tmp_path):
    """The same spec but other weights under the same file name: only the
    weights hash (computed when the teacher builds its CLIP) tells."""
    same_name = tmp_path / 'tiny-clip.pt'
    shutil.copy(data['other'], same_name)
    files = [data['paths']['teacher_video']]
    head = CLIPTeacherHead(
        32, clip_model=_spec(data, weights=str(same_name)), spec_files=files)
    with pytest.raises(PRVRDataError, match='differ in weights'):
        head.clip_model
    head = CLIPTeacherHead(32, clip_model=_spec(data), spec_files=files)
    assert head.clip_model is not None


def test_completing_a_file_with_another_spec_is_refused(data):
    with pytest.raises(
            PRVRDataError, match='already written were '
            'extracted with CLIP') as e:
        extract_clip_features(
            osp.join(data['coll'], 'videos'),
            data['root'],
            COLL,
            student_features='FeatureData/x3d',
            clip_model=_spec(data, quick_gelu=True),
            workers=0,
            progress=False,
            check=False,
            log=lambda *a: None)
    assert 'this run uses' in str(e.value)


def test_file_without_spec_is_accepted_with_one_warning(data, tmp_path):
    path = str(tmp_path / 'old_pack.hdf5')
    write_h5(path, dict(v=torch.ones(2, 32).numpy()))
    with h5py.File(path, 'r') as f:
        assert SPEC_ATTR not in f.attrs
    want = clip_spec_record(_spec(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert check_spec(path, want, 'teacher video features') is None
        assert check_spec(path, want, 'teacher video features') is None
    msgs = [str(w.message) for w in caught if path in str(w.message)]
    assert len(msgs) == 1 and 'carry no CLIP spec' in msgs[0]
