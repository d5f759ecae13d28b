"""The toy generator: version marker, regeneration of stale folders."""
import filecmp
import json
import os.path as osp

import pytest

from prvr_mm.datasets.toy import (MARKER, TOY_VERSION, ensure_toy_dataset,
                                  make_toy_dataset)

SMALL = dict(
    num_videos=dict(train=4, val=2, test=2),
    frames=(6, 9),
    video_dim=16,
    query_dim=8,
    teacher_dim=8,
    latent_dim=4)
FEATURES = 'FeatureData/toy_i3d/feature.bin'


def _marker(root):
    with open(osp.join(root, MARKER)) as f:
        return json.load(f)


def test_marker_records_version_seed_and_options(tmp_path):
    root = str(tmp_path / 'toy')
    make_toy_dataset(root, seed=2, **SMALL)
    marker = _marker(root)
    assert marker['version'] == TOY_VERSION and marker['seed'] == 2
    assert marker['options']['num_videos'] == SMALL['num_videos']
    assert marker['options']['teacher_action'] == 0.0  # teacher blind to it
    with pytest.raises(FileExistsError, match='already exists'):
        make_toy_dataset(root, seed=2, **SMALL)
    with pytest.raises(ValueError, match='num_objects'):
        make_toy_dataset(str(tmp_path / 'x'), num_objects=33)


def test_ensure_reuses_only_what_the_same_generator_made(tmp_path):
    root, ref = str(tmp_path / 'toy'), str(tmp_path / 'ref')
    make_toy_dataset(ref, seed=0, **SMALL)
    assert ensure_toy_dataset(root, seed=0, **SMALL) is not None
    assert ensure_toy_dataset(root, seed=0, **SMALL) is None  # reused
    # written by an older generator version: regenerated
    marker = _marker(root)
    marker['version'] = TOY_VERSION - 1
    with open(osp.join(root, MARKER), 'w') as f:
        json.dump(marker, f)
    with open(osp.join(root, FEATURES), 'wb') as f:
        f.write(b'stale')
    assert ensure_toy_dataset(root, seed=0, **SMALL) is not None
    assert filecmp.cmp(
        osp.join(root, FEATURES), osp.join(ref, FEATURES), shallow=False)
    # other options or seed: regenerated too
    assert ensure_toy_dataset(root, seed=1, **SMALL) is not None
    assert _marker(root)['seed'] == 1
    assert not any(p.name.startswith('.toy') for p in tmp_path.iterdir())


def test_ensure_regenerates_a_toy_without_marker(tmp_path):
    """A folder of the first generator (no marker, only the toy's files)."""
    root = str(tmp_path / 'toy')
    make_toy_dataset(root, seed=0, **SMALL)
    (tmp_path / 'toy' / MARKER).unlink()
    assert ensure_toy_dataset(root, seed=0, **SMALL) is not None
    assert _marker(root)['version'] == TOY_VERSION


def test_ensure_leaves_other_folders_alone(tmp_path):
    root = tmp_path / 'mine'
    make_toy_dataset(str(root), seed=0, **SMALL)
    (root / MARKER).unlink()
    (root / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not written by the toy'):
        ensure_toy_dataset(str(root), seed=0, **SMALL)
    assert (root / 'notes.txt').read_text() == 'keep me'
