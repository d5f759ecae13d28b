"""The MS-SL on-disk layout: file names per collection, and its writers.

Every feature pack of MS-SL / DL-DKD (TVR, ActivityNet Captions,
Charades-STA) and every collection written here (toy, miniatures, extracted
features) follows one layout under ``ROOT/<collection>``::

    TextData/<collection>{train,val,test}.caption.txt  <cap_id> <sentence>
    TextData/roberta_<collection>_query_feat.hdf5      cap_id -> (L, Dq)
    TextData/clip_ViT_B_32_<collection>_query_feat.hdf5
                                                  teacher key -> (1, 512)
    TextData/clip_ViT_B_32_<collection>_token_feat.hdf5
                           cap_id -> (L, 512) (CLIP-only configs, optional)
    TextData/<collection>_meta.json      optional durations and timestamps
    FeatureData/<visual_feature>/        BigFile (or <visual_feature>.hdf5)
    FeatureData/new_clip_vit_32_<collection>_vid_features.hdf5
                                                  video id -> (T, 512)

A cap_id is ``<video_id>#enc#<n>``; the CLIP sentence file keys it with
``#`` instead of ``#enc#``.  Raw videos sit in one folder, one per video id:
``<video_id><ext>`` (:data:`VIDEO_EXTENSIONS`) or a frame folder
``<video_id>/`` of images (:data:`IMAGE_EXTENSIONS`).

This module owns those names, extensions, splits and feature dimensions
(the checker, the datasets, the toy generators, the extraction tools and the
search read them here), the one listing of a video folder
(:func:`find_videos`), the parsers of the caption and meta files
(:func:`parse_caption_file`, :func:`read_meta`) and the writers of the
layout (:func:`write_captions`, :func:`write_meta`; the feature writers
:func:`write_bigfile`, :func:`write_h5` live in :mod:`.feature_writers`).
"""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from ..errors import PRVRDataError
from .feature_writers import write_bigfile, write_h5  # noqa: F401

#: Published layout of each MS-SL collection: BigFile folder name and the
#: feature dimensions of the student video (I3D / ResNet+I3D) and query
#: (RoBERTa tokens) features.
COLLECTIONS: Dict[str, dict] = {
    'tvr': dict(visual_feature='i3d_resnet', video_dim=3072, query_dim=768),
    'activitynet': dict(visual_feature='i3d', video_dim=1024, query_dim=1024),
    'charades':
    dict(visual_feature='i3d_rgb_lgi', video_dim=1024, query_dim=1024),
}
#: Feature dimension of the CLIP ViT-B/32 teacher files.
TEACHER_DIM = 512
#: Student inputs (``video`` / ``text`` of :func:`collection_files`):
#: ``ms_sl`` BigFile + RoBERTa; ``clip`` CLIP frame + CLIP token files.
INPUTS = ('ms_sl', 'clip')
SPLITS = ('train', 'val', 'test')
#: Extensions of video files (compared case-insensitively).
VIDEO_EXTENSIONS = ('.mp4', '.mkv', '.webm', '.avi', '.mov', '.m4v')
#: Extensions of the images of a frame folder (case-insensitive).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def video_id_of(cap_id: str) -> str:
    """Video id of a caption id: the part before the first ``#``."""
    return cap_id.split('#', 1)[0]


def teacher_text_key(cap_id: str) -> str:
    """Key of a caption in the CLIP text h5 (``#enc#`` -> ``#``)."""
    return cap_id.replace('#enc#', '#')


def default_visual_feature(collection: str) -> str:
    """The published BigFile folder name of a known collection.

    Raises:
        ValueError: for a collection that is not in :data:`COLLECTIONS`.
    """
    if collection not in COLLECTIONS:
        raise ValueError(
            f'unknown collection {collection!r}: pass visual_feature '
            f'(known collections: {sorted(COLLECTIONS)})')
    return COLLECTIONS[collection]['visual_feature']


def collection_files(collection: str,
                     visual_feature: Optional[str] = None,
                     inputs: str = 'ms_sl') -> Dict[str, str]:
    """Paths of every file of a collection, relative to its folder.

    Args:
        collection (str): collection name (``tvr``, ``activitynet``,
            ``charades``, ``toy`` or any name laid out the same way).
        visual_feature (str, optional): BigFile folder (or h5 file) name
            under ``FeatureData``; defaults to the published one.
        inputs (str): :data:`INPUTS`; ``'clip'``: ``video`` is the CLIP
            frame file, ``text`` the CLIP token file (any collection name).

    Returns:
        dict: ``caption_<split>`` for every split, ``text``, ``video``,
        ``teacher_video``, ``teacher_text``, ``clip_tokens``, ``meta``.
    """
    if inputs not in INPUTS:
        raise ValueError(f'inputs must be one of {INPUTS}, got {inputs!r}')
    if inputs == 'clip' and visual_feature:
        raise ValueError(f"inputs='clip' takes no visual_feature (got "
                         f'{visual_feature!r}): the CLIP frame file is it')
    if visual_feature is None and inputs == 'ms_sl':
        visual_feature = default_visual_feature(collection)
    text, feat = 'TextData', 'FeatureData'
    files = dict(
        text=osp.join(text, f'roberta_{collection}_query_feat.hdf5'),
        video=osp.join(feat, visual_feature or ''),
        teacher_video=osp.join(
            feat, f'new_clip_vit_32_{collection}_vid_features.hdf5'),
        teacher_text=osp.join(text,
                              f'clip_ViT_B_32_{collection}_query_feat.hdf5'),
        # per-token CLIP text features: the query input of the CLIP-only
        # student configs (configs/_base_/datasets/*_clip.py)
        clip_tokens=osp.join(text,
                             f'clip_ViT_B_32_{collection}_token_feat.hdf5'),
        meta=osp.join(text, f'{collection}_meta.json'))
    for split in SPLITS:
        files[f'caption_{split}'] = osp.join(
            text, f'{collection}{split}.caption.txt')
    if inputs == 'clip':
        files.update(video=files['teacher_video'], text=files['clip_tokens'])
    return files


def collection_paths(root: str,
                     collection: str,
                     visual_feature: Optional[str] = None,
                     inputs: str = 'ms_sl') -> Dict[str, str]:
    """Paths of every file of a collection under ``root``.

    Args:
        root (str): folder holding the collection folder ``collection``.
        collection (str): collection name.
        visual_feature, inputs: see :func:`collection_files`.

    Returns:
        dict: ``dir`` (``root/collection``) and every key of
        :func:`collection_files` joined to it.
    """
    base = osp.join(root, collection)
    paths = dict(dir=base)
    for key, rel in collection_files(collection, visual_feature,
                                     inputs).items():
        paths[key] = osp.join(base, rel)
    return paths


def frame_files(folder: str) -> List[str]:
    """The images of a frame folder, sorted: image ``i`` is frame ``i``."""
    return sorted(
        f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))


def find_videos(folder: str,
                extensions: Iterable[str] = VIDEO_EXTENSIONS
                ) -> 'OrderedDict[str, str]':
    """The videos of a folder, keyed by video id, sorted by id.

    A video is a file ``<video_id><ext>`` with an extension of
    ``extensions`` (any case), or a sub-folder ``<video_id>/`` holding at
    least one image (a frame folder); anything else is ignored.

    Tie rule: one video id, one entry.  Two entries with the same id (a
    video file and a frame folder, or two files such as ``a.mp4`` and
    ``a.mkv``) are an error naming both paths, never a silent pick: remove
    or rename one of them.

    Args:
        folder (str): the folder.
        extensions (Iterable[str]): video file extensions.

    Returns:
        OrderedDict[str, str]: video id -> path (under ``folder``).

    Raises:
        PRVRDataError: no such folder, or a video id given twice.
    """
    if not osp.isdir(folder):
        raise PRVRDataError(f'video folder not found: {folder}; expected '
                            '<video_id>.mp4 files or <video_id>/ frame '
                            'folders in it')
    exts = {
        e.lower() if e.startswith('.') else '.' + e.lower()
        for e in extensions
    }
    found: Dict[str, str] = {}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            stem, ext = osp.splitext(entry.name)
            if entry.is_dir():
                if not frame_files(entry.path):
                    continue
                vid = entry.name
            elif ext.lower() in exts and entry.is_file():
                vid = stem
            else:
                continue
            if vid in found:
                raise PRVRDataError(
                    f'{folder}: video id {vid!r} is given twice: '
                    f'{found[vid]} and {entry.path}; expected one video '
                    'file or frame folder per id (remove or rename one)')
            found[vid] = entry.path
    return OrderedDict(sorted(found.items()))


def scan_caption_file(path: str) -> Tuple[List[Tuple[str, str]], List[str]]:
    """Read ``<cap_id> <sentence>`` lines, collecting every error.

    Returns:
        tuple: ``(pairs, errors)``: the valid ``(cap_id, sentence)`` in file
        order (first occurrence of a duplicate kept) and one message per
        missing file, malformed line (with its number), duplicate cap_id or
        empty split.
    """
    if not osp.isfile(path):
        return [], [f'caption file not found: {path}']
    out, seen, errors = [], {}, []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(' ', 1)
            if len(parts) != 2 or not parts[1].strip() or '#' not in parts[0]:
                errors.append(
                    f'{path}:{lineno}: malformed caption line {line!r}; '
                    "expected '<video_id>#enc#<n> <sentence>'")
                continue
            cap_id = parts[0]
            if cap_id in seen:
                errors.append(f'{path}:{lineno}: duplicate cap_id {cap_id!r} '
                              f'(first on line {seen[cap_id]})')
                continue
            seen[cap_id] = lineno
            out.append((cap_id, parts[1].strip()))
    if not out and not errors:
        errors.append(f'{path}: the split has no queries')
    return out, errors


def parse_caption_file(path: str) -> List[Tuple[str, str]]:
    """Read ``<cap_id> <sentence>`` lines (see :func:`scan_caption_file`).

    Returns:
        list[tuple[str, str]]: ``(cap_id, sentence)`` in file order.

    Raises:
        PRVRDataError: missing file, malformed line (with its number),
            duplicate cap_id, or no query at all (the first one found).
    """
    out, errors = scan_caption_file(path)
    if errors:
        raise PRVRDataError(errors[0])
    return out


_META_FORMAT = ('{"videos": {video_id: {"duration": seconds}}, "queries": '
                '{cap_id: {"timestamps": [start, end]}}}')


def read_meta(path: str) -> dict:
    """Read the optional meta file of a collection (:func:`write_meta`).

    Returns:
        dict: ``videos`` (video id -> dict with ``duration``) and
        ``queries`` (cap_id -> dict with ``timestamps``), ``{}`` if absent.

    Raises:
        PRVRDataError: missing file, invalid JSON or another structure.
    """
    if not osp.isfile(path):
        raise PRVRDataError(f'meta file not found: {path}')
    with open(path, encoding='utf-8') as f:
        try:
            meta = json.load(f)
        except json.JSONDecodeError as e:
            raise PRVRDataError(
                f'{path} is not valid JSON ({e}); expected {_META_FORMAT}: fix'
                ' it or write it with prvr_mm.datasets.layout.write_meta'
            ) from None
    if not isinstance(meta, dict) or not all(
            isinstance(meta.get(k, {}), dict) for k in ('videos', 'queries')):
        raise PRVRDataError(f'{path}: expected {_META_FORMAT}')
    return dict(
        meta, videos=meta.get('videos', {}), queries=meta.get('queries', {}))


def read_durations(path: str) -> Dict[str, float]:
    """``{video id: duration in seconds}`` of a meta file (videos without
    a duration are left out); see :func:`read_meta`."""
    return {
        vid: float(info['duration'])
        for vid, info in read_meta(path)['videos'].items()
        if isinstance(info, dict) and info.get('duration') is not None
    }


def _parent(path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)


def write_captions(path: str, pairs: Iterable[Tuple[str, str]]) -> None:
    """Write a caption file: one ``<cap_id> <sentence>`` line per pair.

    Args:
        path (str): the caption file (parent folders are created).
        pairs (Iterable[tuple[str, str]]): ``(cap_id, sentence)`` in order.
    """
    _parent(path)
    lines = [f'{cap_id} {sentence}' for cap_id, sentence in pairs]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def write_meta(path: str, durations: Mapping[str, float],
               timestamps: Mapping[str, Tuple[float, float]]) -> None:
    """Write the optional meta file read by ``PRVRFeatureDataset``.

    Args:
        path (str): the JSON file (parent folders are created).
        durations (Mapping[str, float]): video id -> length in seconds.
        timestamps (Mapping[str, tuple]): cap_id -> ``(start, end)`` seconds
            of the moment the caption describes.
    """
    _parent(path)
    meta = dict(
        videos={
            vid: dict(duration=d)
            for vid, d in durations.items()
        },
        queries={
            cap: dict(timestamps=list(t))
            for cap, t in timestamps.items()
        })
    with open(path, 'w') as f:
        json.dump(meta, f)
