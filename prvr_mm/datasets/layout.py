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
layout (:func:`write_bigfile`, :func:`write_h5`, :func:`write_captions`,
:func:`write_meta`).  The text files' parsers live in :mod:`.layout_text`
and the writers in :mod:`.layout_writers`; both are re-exported here, the
one place callers import them from.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..errors import PRVRDataError
from .layout_text import (TIMESTAMP_SLACK, cap_id_problem, meta_problems,
                          parse_caption_file, read_durations, read_meta,
                          scan_caption_file, teacher_text_key, video_id_of)
from .layout_writers import write_bigfile, write_captions, write_h5, write_meta

__all__ = [
    'COLLECTIONS', 'TEACHER_DIM', 'SPLITS', 'INPUTS', 'VIDEO_EXTENSIONS',
    'IMAGE_EXTENSIONS', 'cap_id_problem', 'video_id_of', 'teacher_text_key',
    'default_visual_feature', 'collection_files', 'collection_paths',
    'frame_files', 'frame_pattern', 'find_videos', 'scan_caption_file',
    'parse_caption_file', 'read_meta', 'meta_problems', 'read_durations',
    'write_bigfile', 'write_captions', 'write_h5', 'write_meta',
    'TIMESTAMP_SLACK'
]

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


_FRAME_NAME = re.compile(r'^(.*?)(\d+)(\D*)$')


def _frame_numbers(folder: str, names: Sequence[str]) -> Tuple[tuple, list]:
    """The naming scheme ``(prefix, suffix, width)`` (``width`` 0: no zero
    padding) of a folder's images and ``(number, name)`` per image.

    Raises:
        PRVRDataError: names in two schemes (prefix, extension, numbered
            or not, padding), naming one example of each.
    """
    schemes: Dict[tuple, str] = {}
    numbered = []
    for name in names:
        stem, ext = osp.splitext(name)
        m = _FRAME_NAME.match(stem)
        key = (None, ext) if m is None else (m.group(1), m.group(3) + ext)
        schemes.setdefault(key, name)
        if m is not None:
            numbered.append((int(m.group(2)), name, m.group(2)))
    padded = {d for _, _, d in numbered if len(d) > 1 and d[0] == '0'}
    widths = {len(d): n for _, n, d in numbered}
    if len(schemes) == 1 and padded and len(widths) > 1:
        schemes = {w: widths[w] for w in sorted(widths)}
    if len(schemes) > 1:
        a, b = list(schemes.values())[:2]
        raise PRVRDataError(
            f'{folder}: frame images are named in {len(schemes)} schemes, '
            f'e.g. {a!r} and {b!r}; the order of the frames would be a '
            'guess: expected one numbered scheme (000001.jpg, 000002.jpg, '
            '... or 1.jpg, 2.jpg, ...); rename the images or move the '
            'others out of the folder')
    (prefix, suffix), = schemes
    if prefix is None:
        raise PRVRDataError(
            f'{folder}: frame images without a frame number, e.g. '
            f'{names[0]!r}; the order of the frames would be a guess: '
            'expected numbered images (000001.jpg, 000002.jpg, ...)')
    width = len(next(iter(padded))) if padded else 0
    return (prefix, suffix, width), sorted(
        (n, name) for n, name, _ in numbered)


def frame_files(folder: str) -> List[str]:
    """The images of a frame folder in frame order: image ``i`` is frame
    ``i``.

    Images are ordered by the number in their names, numerically
    (``2.jpg`` before ``10.jpg``, as ffmpeg's ``%d.jpg`` writes them;
    ``000002.jpg`` before ``000010.jpg``).

    Returns:
        list[str]: image names (extensions of :data:`IMAGE_EXTENSIONS`, any
        case); empty for a folder without images.

    Raises:
        PRVRDataError: names in two schemes (e.g. ``1.jpg`` and
            ``img_00002.jpg``, numbered and unnumbered, padded and not) or
            a number missing between the first and the last image (a lost
            frame would shift every later frame in time); the message names
            the files.
    """
    names = sorted(
        f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        return []
    _, order = _frame_numbers(folder, names)
    for (a, name_a), (b, name_b) in zip(order, order[1:]):
        if b != a + 1:
            raise PRVRDataError(
                f'{folder}: frame {a + 1} is missing between {name_a!r} and '
                f'{name_b!r} (frames are numbered {order[0][0]} to '
                f'{order[-1][0]}, {len(order)} images); a missing image '
                'would shift every later frame in time: extract the frames '
                'again')
    return [name for _, name in order]


def frame_pattern(folder: str) -> Tuple[str, int]:
    """The name template and first number of a frame folder's images, as
    mmaction2's ``RawFrameDecode`` takes them (``filename_tmpl``,
    ``start_index``): ``('{:06d}.jpg', 1)``, ``('{}.jpg', 1)`` (ffmpeg's
    ``%d.jpg``), ``('img_{:05d}.jpg', 0)`` ...

    Raises:
        PRVRDataError: see :func:`frame_files`; a folder without images.
    """
    files = frame_files(folder)
    if not files:
        raise PRVRDataError(f'{folder}: no frame images (expected '
                            f'{"/".join(IMAGE_EXTENSIONS)} files)')
    (prefix, suffix, width), order = _frame_numbers(folder, files)
    esc = (lambda t: t.replace('{', '{{').replace('}', '}}'))
    number = '{:0%dd}' % width if width else '{}'
    return esc(prefix) + number + esc(suffix), order[0][0]


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
