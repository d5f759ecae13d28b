"""Shared fixtures: a tiny toy dataset in the MS-SL layout (session scope)."""
import os

import pytest

import prvr_mm  # noqa: F401  (stack fixes + registration)

TINY_TOY = dict(
    num_videos=dict(train=24, val=12, test=12),
    frames=(8, 20),
    video_dim=32,
    query_dim=16,
    teacher_dim=8,
    latent_dim=8)


@pytest.fixture(scope='session')
def tiny_toy_root(tmp_path_factory):
    """A tiny toy dataset (24/12/12 videos, small dims) on disk."""
    from prvr_mm.datasets.toy import make_toy_dataset
    root = str(tmp_path_factory.mktemp('toy') / 'toy')
    make_toy_dataset(root, seed=0, **TINY_TOY)
    return root


TINY_RAW = dict(
    num_videos=dict(train=6, val=3, test=3),
    frame_folders=1,
    duration=(2.0, 3.0),
    moment_len=(0.8, 1.2),
    text_dim=32)


@pytest.fixture(scope='session')
def tiny_raw_root(tmp_path_factory):
    """Tiny raw toy videos (6/3/3 of 2-3 s, 64x64, mp4 at 8 fps except
    ``toyvid_train_0000``, a JPEG frame folder at 3 fps) with captions, meta
    and stand-in token features (32-d) on disk."""
    from prvr_mm.datasets.toy_raw import ensure_toy_raw_dataset
    root = str(tmp_path_factory.mktemp('toy_raw') / 'toy_raw')
    ensure_toy_raw_dataset(root, seed=0, **TINY_RAW)
    return root


@pytest.fixture(autouse=True)
def _mmaction_scope():
    from mmengine.registry import DefaultScope, init_default_scope
    if DefaultScope.get_current_instance() is None:
        init_default_scope('mmaction')
    yield


def pytest_configure(config):
    os.environ.setdefault('OMP_NUM_THREADS', '2')
