"""Deterministic toy PRVR dataset in the on-disk layout of the MS-SL packs.

Planted structure: each moment is a pair (action, object) of latent
concepts; a video is background plus several moments, some of them
distractors sharing the action or the object of another moment; each query
describes one moment.  Student clip features see the concepts through a
random linear map with noise; the "CLIP" teacher sees them through another
map (frame level, with a domain-gap offset and noise) and encodes sentences
in the same space, so its frame-level scores are informative but imperfect.

Layout written under ``root`` (collection ``toy``)::

    TextData/toy{train,val,test}.caption.txt   <video>#enc#<n> <sentence>
    TextData/roberta_toy_query_feat.hdf5       cap_id -> (Lq, query_dim)
    TextData/clip_ViT_B_32_toy_query_feat.hdf5 cap_id with '#' -> (1, Dt)
    TextData/toy_meta.json                     durations and timestamps
    FeatureData/toy_i3d/{shape.txt,id.txt,feature.bin,video2frames.txt}
    FeatureData/new_clip_vit_32_toy_vid_features.hdf5  video -> (Tt, Dt)
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Optional

import numpy as np

ACTIONS = ('opens', 'carries', 'throws', 'washes', 'paints', 'drops',
           'lifts', 'pushes', 'cuts', 'folds', 'kicks', 'holds', 'shakes',
           'cleans', 'fixes', 'hides')
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
    cfg = dict(DEFAULTS, **overrides)
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f'unknown toy dataset options {sorted(unknown)}')
    rng = np.random.default_rng(seed)
    na, no, dz = cfg['num_actions'], cfg['num_objects'], cfg['latent_dim']
    act_z, obj_z = _unit(rng, na, dz), _unit(rng, no, dz)
    bg_z = _unit(rng, 8, dz)
    w_student = rng.standard_normal((dz, cfg['video_dim'])) / np.sqrt(dz)
    w_teacher = rng.standard_normal((dz, cfg['teacher_dim'])) / np.sqrt(dz)
    w_token = rng.standard_normal((dz, cfg['query_dim'])) / np.sqrt(dz)
    t_offset = _unit(rng, 1, cfg['teacher_dim'])[0] * cfg['teacher_offset']
    filler_emb = rng.standard_normal((len(FILLERS), cfg['query_dim'])) * 0.5

    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.toy_', dir=parent)
    text_dir, feat_dir = osp.join(tmp, 'TextData'), osp.join(tmp, 'FeatureData')
    big_dir = osp.join(feat_dir, visual_feature)
    for d in (text_dir, big_dir):
        os.makedirs(d)

    import h5py
    stats, frame_ids, frame_rows, video2frames = {}, [], [], {}
    meta = dict(videos={}, queries={})
    q_h5 = h5py.File(osp.join(text_dir, f'roberta_{collection}_query_feat.hdf5'),
                     'w')
    tq_h5 = h5py.File(
        osp.join(text_dir, f'clip_ViT_B_32_{collection}_query_feat.hdf5'),
        'w')
    tv_h5 = h5py.File(
        osp.join(feat_dir, f'new_clip_vit_32_{collection}_vid_features.hdf5'),
        'w')
    try:
        for split, n_videos in cfg['num_videos'].items():
            lines, n_queries = [], 0
            for v in range(n_videos):
                vid = f'{collection}_{split}_{v:05d}'
                n_frames = int(rng.integers(cfg['frames'][0],
                                            cfg['frames'][1] + 1))
                z = bg_z[rng.integers(0, len(bg_z), n_frames)] * 0.8
                n_mom = int(rng.integers(cfg['moments'][0],
                                         cfg['moments'][1] + 1))
                a0, o0 = int(rng.integers(na)), int(rng.integers(no))
                moments = []
                for m in range(n_mom):
                    # distractors share the action or the object of moment 0
                    if m == 0:
                        a, o = a0, o0
                    elif m % 2:
                        a, o = a0, int(rng.integers(no))
                    else:
                        a, o = int(rng.integers(na)), o0
                    length = min(
                        n_frames,
                        int(rng.integers(cfg['moment_len'][0],
                                         cfg['moment_len'][1] + 1)))
                    start = int(rng.integers(0, n_frames - length + 1))
                    z[start:start + length] = act_z[a] + obj_z[o]
                    moments.append((a, o, start, start + length))
                # later moments overwrite earlier ones: keep the visible ones
                visible = [(a, o, s, e) for (a, o, s, e) in moments
                           if np.allclose(z[s:e], act_z[a] + obj_z[o])]
                student = z @ w_student + cfg['student_noise'] * \
                    rng.standard_normal((n_frames, cfg['video_dim'])) / \
                    np.sqrt(cfg['video_dim']) * 4
                ids = [f'{vid}_{t}' for t in range(n_frames)]
                video2frames[vid] = ids
                frame_ids.extend(ids)
                frame_rows.append(student.astype(np.float32))
                stride = cfg['teacher_stride']
                n_t = -(-n_frames // stride)
                zt = np.stack([z[i * stride:(i + 1) * stride].mean(0)
                               for i in range(n_t)])
                teacher = zt @ w_teacher + t_offset + cfg['teacher_noise'] * \
                    rng.standard_normal((n_t, cfg['teacher_dim'])) / \
                    np.sqrt(cfg['teacher_dim']) * 4
                tv_h5[vid] = teacher.astype(np.float32)
                duration = n_frames * cfg['seconds_per_frame']
                meta['videos'][vid] = dict(duration=duration)

                n_q = int(rng.integers(cfg['queries_per_video'][0],
                                       cfg['queries_per_video'][1] + 1))
                for n in range(n_q):
                    a, o, s, e = visible[int(rng.integers(len(visible)))]
                    cap_id = f'{vid}#enc#{n}'
                    words, tokens = [], []
                    n_fill = int(rng.integers(3, 7))
                    fill = rng.integers(0, len(FILLERS), n_fill)
                    slots = sorted(rng.choice(n_fill + 2, 2, replace=False))
                    f_iter = iter(fill)
                    for pos in range(n_fill + 2):
                        if pos == slots[0]:
                            words.append(ACTIONS[a % len(ACTIONS)])
                            vec = act_z[a] @ w_token
                        elif pos == slots[1]:
                            words.append(OBJECTS[o % len(OBJECTS)])
                            vec = obj_z[o] @ w_token
                        else:
                            f = next(f_iter)
                            words.append(FILLERS[f])
                            vec = filler_emb[f]
                        tokens.append(vec + cfg['token_noise'] *
                                      rng.standard_normal(cfg['query_dim']) /
                                      np.sqrt(cfg['query_dim']) * 2)
                    q_h5[cap_id] = np.stack(tokens).astype(np.float32)
                    t_text = (act_z[a] + obj_z[o]) @ w_teacher + \
                        cfg['teacher_noise'] * rng.standard_normal(
                            cfg['teacher_dim']) / np.sqrt(
                                cfg['teacher_dim']) * 4
                    tq_h5[cap_id.replace('#enc#', '#')] = t_text[None].astype(
                        np.float32)
                    lines.append(f'{cap_id} {" ".join(words)}')
                    meta['queries'][cap_id] = dict(timestamps=[
                        s * cfg['seconds_per_frame'],
                        e * cfg['seconds_per_frame']
                    ])
                    n_queries += 1
            with open(osp.join(text_dir, f'{collection}{split}.caption.txt'),
                      'w') as f:
                f.write('\n'.join(lines) + '\n')
            stats[f'{split}_videos'] = n_videos
            stats[f'{split}_queries'] = n_queries
    finally:
        for h in (q_h5, tq_h5, tv_h5):
            h.close()

    matrix = np.concatenate(frame_rows)
    matrix.tofile(osp.join(big_dir, 'feature.bin'))
    with open(osp.join(big_dir, 'shape.txt'), 'w') as f:
        f.write(f'{matrix.shape[0]} {matrix.shape[1]}')
    with open(osp.join(big_dir, 'id.txt'), 'w') as f:
        f.write(' '.join(frame_ids))
    with open(osp.join(big_dir, 'video2frames.txt'), 'w') as f:
        f.write(repr(video2frames))
    with open(osp.join(text_dir, f'{collection}_meta.json'), 'w') as f:
        json.dump(meta, f)
    try:
        os.rename(tmp, root)
    except OSError:  # another process finished first: keep its copy
        if not osp.isdir(root):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def ensure_toy_dataset(root: str, seed: int = 0,
                       **kwargs) -> Optional[Dict[str, int]]:
    """Generate the toy dataset at ``root`` unless it already exists."""
    if osp.isdir(root):
        return None
    return make_toy_dataset(root, seed=seed, **kwargs)
