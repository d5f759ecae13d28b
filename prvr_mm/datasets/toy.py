"""Deterministic toy PRVR dataset in the on-disk layout of the MS-SL packs.

Planted structure: each moment is a pair (action, object) of latent
concepts; a video is background plus several moments, some of them
distractors sharing the action or the object of another moment; each query
describes one moment.  Student clip features see the concepts through a
random linear map with noise; the "CLIP" teacher sees them through another
map (frame level, with a domain-gap offset and noise) and encodes sentences
in the same space, so its frame-level scores are informative but imperfect.

The files are the MS-SL layout (:mod:`prvr_mm.datasets.layout`) of the
collection ``toy`` written under ``root``, with the meta file (durations and
moment timestamps) and the BigFile folder ``FeatureData/toy_i3d``.
"""
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional

import numpy as np

from .layout import (collection_files, teacher_text_key, write_bigfile,
                     write_captions, write_h5, write_meta)

ACTIONS = ('opens', 'carries', 'throws', 'washes', 'paints', 'drops', 'lifts',
           'pushes', 'cuts', 'folds', 'kicks', 'holds', 'shakes', 'cleans',
           'fixes', 'hides')
OBJECTS = ('door', 'box', 'ball', 'cup', 'chair', 'book', 'bag', 'phone',
           'plate', 'towel', 'bottle', 'lamp', 'shoe', 'hat', 'key', 'bowl')
FILLERS = ('a', 'the', 'person', 'then', 'slowly', 'someone', 'and', 'man',
           'woman', 'quickly')

DEFAULTS = dict(
    num_videos=dict(train=300, val=200, test=500),
    queries_per_video=(1, 3),
    num_actions=16,
    num_objects=16,
    latent_dim=24,
    video_dim=128,
    query_dim=64,
    teacher_dim=48,
    frames=(24, 72),
    moments=(2, 4),
    moment_len=(3, 8),
    student_noise=1.6,
    teacher_noise=0.3,
    teacher_offset=1.0,
    token_noise=0.5,
    seconds_per_frame=1.5,
    teacher_stride=2,
)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _noise(rng: np.random.Generator, shape, level: float,
           scale: float) -> np.ndarray:
    """Isotropic Gaussian noise of expected norm about ``level * scale``."""
    dim = shape[-1] if isinstance(shape, tuple) else shape
    return level * rng.standard_normal(shape) / np.sqrt(dim) * scale


class _ToyWorld:
    """Latent concepts and the three views (student, teacher, text) of them.

    Every random draw goes through one generator in a fixed order, so a seed
    fully determines the files.
    """

    def __init__(self, cfg: dict, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        dz = cfg['latent_dim']
        self.act_z = _unit(rng, cfg['num_actions'], dz)
        self.obj_z = _unit(rng, cfg['num_objects'], dz)
        self.bg_z = _unit(rng, 8, dz)
        self.w_student = rng.standard_normal(
            (dz, cfg['video_dim'])) / np.sqrt(dz)
        self.w_teacher = rng.standard_normal(
            (dz, cfg['teacher_dim'])) / np.sqrt(dz)
        self.w_token = rng.standard_normal(
            (dz, cfg['query_dim'])) / np.sqrt(dz)
        self.t_offset = _unit(rng, 1, cfg['teacher_dim'])[0] * \
            cfg['teacher_offset']
        self.filler_emb = rng.standard_normal(
            (len(FILLERS), cfg['query_dim'])) * 0.5

    def _between(self, bounds) -> int:
        return int(self.rng.integers(bounds[0], bounds[1] + 1))

    def video(self):
        """One video: student frames (T, Dv), teacher frames (T/stride, Dt)
        and the visible moments ``(action, object, start, end)``."""
        cfg, rng = self.cfg, self.rng
        n_frames = self._between(cfg['frames'])
        z = self.bg_z[rng.integers(0, len(self.bg_z), n_frames)] * 0.8
        n_mom = self._between(cfg['moments'])
        a0 = int(rng.integers(cfg['num_actions']))
        o0 = int(rng.integers(cfg['num_objects']))
        moments = []
        for m in range(n_mom):
            # distractors share the action or the object of moment 0
            if m == 0:
                a, o = a0, o0
            elif m % 2:
                a, o = a0, int(rng.integers(cfg['num_objects']))
            else:
                a, o = int(rng.integers(cfg['num_actions'])), o0
            length = min(n_frames, self._between(cfg['moment_len']))
            start = int(rng.integers(0, n_frames - length + 1))
            z[start:start + length] = self.act_z[a] + self.obj_z[o]
            moments.append((a, o, start, start + length))
        # later moments overwrite earlier ones: keep the visible ones
        visible = [(a, o, s, e) for (a, o, s, e) in moments
                   if np.allclose(z[s:e], self.act_z[a] + self.obj_z[o])]
        student = z @ self.w_student + _noise(
            rng, (n_frames, cfg['video_dim']), cfg['student_noise'], 4)
        stride = cfg['teacher_stride']
        n_t = -(-n_frames // stride)
        zt = np.stack(
            [z[i * stride:(i + 1) * stride].mean(0) for i in range(n_t)])
        teacher = zt @ self.w_teacher + self.t_offset + _noise(
            rng, (n_t, cfg['teacher_dim']), cfg['teacher_noise'], 4)
        return student, teacher, visible

    def query(self, action: int, obj: int):
        """Sentence, token features (Lq, Dq) and CLIP sentence feature (Dt)
        of a query describing the moment ``(action, obj)``."""
        cfg, rng = self.cfg, self.rng
        n_fill = int(rng.integers(3, 7))
        fill = iter(rng.integers(0, len(FILLERS), n_fill))
        slots = sorted(rng.choice(n_fill + 2, 2, replace=False))
        words, tokens = [], []
        for pos in range(n_fill + 2):
            if pos == slots[0]:
                words.append(ACTIONS[action % len(ACTIONS)])
                vec = self.act_z[action] @ self.w_token
            elif pos == slots[1]:
                words.append(OBJECTS[obj % len(OBJECTS)])
                vec = self.obj_z[obj] @ self.w_token
            else:
                f = next(fill)
                words.append(FILLERS[f])
                vec = self.filler_emb[f]
            tokens.append(vec +
                          _noise(rng, cfg['query_dim'], cfg['token_noise'], 2))
        text = (self.act_z[action] + self.obj_z[obj]) @ self.w_teacher + \
            _noise(rng, cfg['teacher_dim'], cfg['teacher_noise'], 4)
        return ' '.join(words), np.stack(tokens), text


def make_toy_dataset(root: str,
                     seed: int = 0,
                     collection: str = 'toy',
                     visual_feature: str = 'toy_i3d',
                     **overrides) -> Dict[str, int]:
    """Write the toy dataset to ``root`` (atomically: a temp dir is renamed).

    Args:
        root (str): output folder (must not exist).
        seed (int): random seed; the same seed gives identical files.
        collection (str): collection name used in file names.
        visual_feature (str): BigFile folder name under ``FeatureData``.
        **overrides: any key of ``DEFAULTS`` (sizes, dims, noise levels).

    Returns:
        dict: number of videos and queries per split.
    """
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f'unknown toy dataset options {sorted(unknown)}')
    cfg = dict(DEFAULTS, **overrides)
    world = _ToyWorld(cfg, np.random.default_rng(seed))
    rng, sec = world.rng, cfg['seconds_per_frame']

    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.toy_', dir=parent)
    files = {
        key: osp.join(tmp, rel)
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
    try:
        os.rename(tmp, root)
    except OSError:  # another process finished first: keep its copy
        if not osp.isdir(root):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def ensure_toy_dataset(root: str,
                       seed: int = 0,
                       **kwargs) -> Optional[Dict[str, int]]:
    """Generate the toy dataset at ``root`` unless it already exists."""
    if osp.isdir(root):
        return None
    return make_toy_dataset(root, seed=seed, **kwargs)
