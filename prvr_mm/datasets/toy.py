"""Deterministic toy PRVR dataset in the on-disk layout of the MS-SL packs.

A generated collection small enough to train on in minutes on 2 CPU cores,
built so that the two students of DL-DKD have different things to learn
(the toy ablation in ``configs/toy/README.md`` measures it).

World.  Each moment is a pair (action, object) of latent concepts
(``num_actions`` x ``num_objects``).  A video is 24-72 frames of background
scenes with 2-4 moments of 3-8 frames; the moments after the first are
distractors sharing its action or its object.  Each query (1-3 per video)
describes one visible moment of its video.

What each modality knows:

* student clip features (the "I3D" BigFile, ``video_dim``): a linear view
  of ``student_action * action + student_object * object + background``
  plus noise.  Motion features see the action strongly and the object only
  weakly.
* teacher frame features (the "CLIP ViT-B/32" frame file, ``teacher_dim``,
  one frame in ``teacher_stride``): ``teacher_object * object +
  background`` (``teacher_action`` is 0 by default: a still frame shows no
  motion), a constant domain-gap offset and noise.
* teacher sentence features (the CLIP text file): the object of the
  sentence in the same space as the frames, so the teacher's frame-level
  scores find the frames of the queried object, but cannot tell two
  actions on that object apart.
* query token features (the "RoBERTa" file, ``query_dim``): one vector per
  word; the action and the object word carry their concept, the filler
  words none.

So the teacher knows something that PRVR supervision alone is slow to find
in the student features (the weak object cue), and the student features
hold something the teacher misses (the action).  Trained only on the PRVR
data, a branch picks up the strong action cue first; the inheritance
branch, pulled towards the teacher's frame-level similarity distribution,
learns to match objects; their fused ranking uses both.

The files are the MS-SL layout (:mod:`prvr_mm.datasets.layout`) of the
collection ``toy`` written under ``root``, with the meta file (durations and
moment timestamps), the BigFile folder ``FeatureData/toy_i3d`` and a marker
``toy_generator.json`` (generator version, seed and options) that
:func:`ensure_toy_dataset` compares before reusing a folder.
"""
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional

import numpy as np
from mmengine.logging import print_log

from .layout import (collection_files, teacher_text_key, write_bigfile,
                     write_captions, write_h5, write_meta)
from .toy_world import ACTIONS, OBJECTS, ToyWorld

#: Version of the generated data; bump it whenever the files a seed gives
#: change, so that stale folders are regenerated.
TOY_VERSION = 2
#: Marker file written at the root of a generated folder.
MARKER = 'toy_generator.json'

DEFAULTS = dict(
    num_videos=dict(train=300, val=200, test=500),
    queries_per_video=(1, 3),
    num_actions=12,
    num_objects=32,
    latent_dim=24,
    video_dim=128,
    query_dim=64,
    teacher_dim=48,
    frames=(24, 72),
    moments=(2, 4),
    moment_len=(3, 8),
    background=0.8,
    student_action=1.0,
    student_object=0.7,
    student_noise=0.3,
    teacher_action=0.0,
    teacher_object=1.0,
    teacher_noise=0.3,
    teacher_offset=1.0,
    token_noise=0.5,
    seconds_per_frame=1.5,
    teacher_stride=2,
)


def _options(overrides: dict) -> dict:
    """``DEFAULTS`` updated with ``overrides`` (validated)."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f'unknown toy dataset options {sorted(unknown)}')
    cfg = dict(DEFAULTS, **overrides)
    for key, words in (('num_actions', ACTIONS), ('num_objects', OBJECTS)):
        if not 1 <= cfg[key] <= len(words):
            raise ValueError(f'toy dataset option {key} must be in '
                             f'[1, {len(words)}] (one word each), got '
                             f'{cfg[key]}')
    return cfg


def _marker(seed: int, collection: str, visual_feature: str,
            cfg: dict) -> dict:
    """What a generated folder records about how it was made (JSON-ready)."""
    return json.loads(
        json.dumps(
            dict(
                version=TOY_VERSION,
                seed=seed,
                collection=collection,
                visual_feature=visual_feature,
                options=cfg)))


def _read_marker(root: str) -> Optional[dict]:
    """The marker of a generated folder, or None when it has none."""
    path = osp.join(root, MARKER)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _written_files(collection: str, visual_feature: str) -> set:
    """Relative paths of every file the generator writes (but the marker)."""
    files = collection_files(collection, visual_feature)
    # the toy has no per-token CLIP text file (CLIP-only configs)
    out = {
        rel
        for key, rel in files.items() if key not in ('video', 'clip_tokens')
    }
    out.update(
        osp.join(files['video'], name)
        for name in ('feature.bin', 'shape.txt', 'id.txt', 'video2frames.txt'))
    return out


def _folder_files(root: str) -> set:
    return {
        osp.relpath(osp.join(d, name), root)
        for d, _, names in os.walk(root)
        for name in names
    }


def _write(folder: str, seed: int, collection: str, visual_feature: str,
           cfg: dict) -> Dict[str, int]:
    """Generate every file of the collection into ``folder``."""
    world = ToyWorld(cfg, np.random.default_rng(seed))
    rng, sec = world.rng, cfg['seconds_per_frame']
    files = {
        key: osp.join(folder, rel)
        for key, rel in collection_files(collection, visual_feature).items()
    }
    stats = {}
    student, teacher, tokens, sentences = {}, {}, {}, {}
    durations, timestamps = {}, {}
    for split, n_videos in cfg['num_videos'].items():
        captions = []
        for v in range(n_videos):
            vid = f'{collection}_{split}_{v:05d}'
            student[vid], teacher[vid], visible = world.video()
            durations[vid] = len(student[vid]) * sec
            for n in range(world._between(cfg['queries_per_video'])):
                a, o, s, e = visible[int(rng.integers(len(visible)))]
                cap_id = f'{vid}#enc#{n}'
                sentence, tokens[cap_id], text = world.query(a, o)
                sentences[teacher_text_key(cap_id)] = text[None]
                captions.append((cap_id, sentence))
                timestamps[cap_id] = (s * sec, e * sec)
        write_captions(files[f'caption_{split}'], captions)
        stats[f'{split}_videos'] = n_videos
        stats[f'{split}_queries'] = len(captions)

    write_h5(files['text'], tokens)
    write_h5(files['teacher_text'], sentences)
    write_h5(files['teacher_video'], teacher)
    write_bigfile(files['video'], student)
    write_meta(files['meta'], durations, timestamps)
    with open(osp.join(folder, MARKER), 'w') as f:
        json.dump(_marker(seed, collection, visual_feature, cfg), f, indent=1)
    return stats


def make_toy_dataset(root: str,
                     seed: int = 0,
                     collection: str = 'toy',
                     visual_feature: str = 'toy_i3d',
                     overwrite: bool = False,
                     **overrides) -> Dict[str, int]:
    """Write the toy dataset to ``root`` (atomically: a temp dir is renamed).

    Args:
        root (str): output folder; it must not exist unless ``overwrite``.
        seed (int): random seed; the same seed gives identical files.
        collection (str): collection name used in file names.
        visual_feature (str): BigFile folder name under ``FeatureData``.
        overwrite (bool): replace an existing folder written by this
            generator (one with the marker file, or holding exactly the
            files it writes). A folder holding anything else is never
            deleted. Defaults to False.
        **overrides: any key of ``DEFAULTS`` (sizes, dims, signal and noise
            levels).

    Returns:
        dict: number of videos and queries per split.

    Raises:
        ValueError: an unknown option or an out-of-range concept count.
        FileExistsError: ``root`` exists (and may not be replaced).
    """
    cfg = _options(overrides)
    if osp.exists(root):
        _check_replaceable(root, collection, visual_feature, overwrite)
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.toy_', dir=parent)
    try:
        stats = _write(tmp, seed, collection, visual_feature, cfg)
        _install(tmp, root, _marker(seed, collection, visual_feature, cfg))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def _check_replaceable(root: str, collection: str, visual_feature: str,
                       overwrite: bool) -> None:
    if not overwrite:
        raise FileExistsError(
            f'{root} already exists: make_toy_dataset writes a new folder '
            '(pass overwrite=True to replace a generated one)')
    if _read_marker(root) is None and _folder_files(root) != _written_files(
            collection, visual_feature):
        raise FileExistsError(
            f'{root} exists but was not written by the toy generator (no '
            f'{MARKER}, and other files than the toy collection '
            f'{collection!r}): it is left alone; move it away or set '
            'another data_root')


def _install(tmp: str, root: str, marker: dict) -> None:
    """Move the generated ``tmp`` to ``root``, replacing an old folder.

    Several processes (DDP ranks) may generate the same folder at once:
    whoever comes second keeps the first one's identical copy.
    """
    parent = osp.dirname(osp.abspath(root))
    trash = None
    if osp.exists(root):
        if _read_marker(root) == marker:
            return
        trash = tempfile.mkdtemp(prefix='.toy_old_', dir=parent)
        try:
            os.rename(root, osp.join(trash, 'old'))
        except FileNotFoundError:
            pass
    try:
        os.rename(tmp, root)
    except OSError:
        if _read_marker(root) != marker:
            raise
    finally:
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)


def ensure_toy_dataset(root: str,
                       seed: int = 0,
                       collection: str = 'toy',
                       visual_feature: str = 'toy_i3d',
                       **overrides) -> Optional[Dict[str, int]]:
    """Generate the toy dataset at ``root`` unless it is already there.

    A folder is reused only when its marker says that this generator
    version made it with the same seed and options. A folder written by an
    older generator (or with other options) is regenerated in place, with a
    warning; a folder that the toy generator did not write raises.

    Args:
        root (str): the collection folder (``data_root`` of the configs).
        seed (int): random seed. Defaults to 0.
        collection (str): collection name. Defaults to ``'toy'``.
        visual_feature (str): BigFile folder name. Defaults to
            ``'toy_i3d'``.
        **overrides: options of :func:`make_toy_dataset`.

    Returns:
        dict or None: the statistics of :func:`make_toy_dataset`, or None
        when the folder was reused.
    """
    if not osp.exists(root):
        return make_toy_dataset(root, seed, collection, visual_feature,
                                **overrides)
    wanted = _marker(seed, collection, visual_feature, _options(overrides))
    found = _read_marker(root)
    if found == wanted:
        return None
    if found is None:
        made_by = 'an older toy generator (no marker)'
    elif found.get('version') != TOY_VERSION:
        made_by = f'toy generator version {found.get("version")}'
    else:
        made_by = 'the toy generator with other options or seed'
    _check_replaceable(root, collection, visual_feature, overwrite=True)
    print_log(
        f'{root} was written by {made_by}; regenerating it (toy generator '
        f'version {TOY_VERSION}, seed {seed})',
        logger='current',
        level=logging.WARNING)
    return make_toy_dataset(
        root, seed, collection, visual_feature, overwrite=True, **overrides)
