"""Video collections to index: the clip features of every video, with its
duration and raw file when known.

A :class:`FeatureCollection` lists the videos of a feature file (BigFile
folder or h5, the MS-SL layout) -- all of them, or those of a caption file
-- with their time: the real duration and the span of every feature row
that the extraction tools record in the file
(:mod:`prvr_mm.datasets.feature_times`), else, for files without times,
uniform rows over a duration from a ``meta_file`` or a fixed
``clip_seconds`` per feature row -- and, given a folder of raw videos, the
file of each video.
:func:`split_collection` takes the videos of a config split instead.
"""
import os.path as osp
from typing import Dict, Iterator, List, Optional

import numpy as np

from ..datasets.feature_times import check_times, read_times
from ..datasets.layout import VIDEO_EXTENSIONS, find_videos
from ..datasets.layout import read_durations as layout_read_durations
from ..datasets.layout import video_id_of
from ..datasets.readers import (PRVRDataError, build_feature_reader,
                                parse_caption_file)

__all__ = [
    'FeatureCollection', 'split_collection', 'find_video_files',
    'VIDEO_EXTENSIONS'
]


def find_video_files(video_dir: str, video_ids: List[str]) -> Dict[str, str]:
    """Raw file (or frame folder) of every video id found in ``video_dir``
    (:func:`prvr_mm.datasets.layout.find_videos`, its tie rule included).

    Args:
        video_dir (str): the folder.
        video_ids (list[str]): the wanted ids.

    Returns:
        dict[str, str]: absolute path per found id (missing ids absent).
    """
    by_id = find_videos(video_dir)
    return {v: osp.abspath(by_id[v]) for v in video_ids if v in by_id}


class FeatureCollection:
    """The videos of a feature file, to encode into a search index.

    Args:
        video_feature (str): BigFile folder or h5 file of clip features.
        video_ids (list[str], optional): the videos to take (default: every
            video of the file, in file order).
        durations (dict[str, float], optional): seconds per video id.
        clip_seconds (float, optional): seconds per feature row, for videos
            without recorded times nor a known duration (``duration = rows
            * clip_seconds``).
        video_paths (dict[str, str], optional): raw file per video id.
        video_dim (int, optional): expected feature dimension.
    """

    def __init__(self,
                 video_feature: str,
                 video_ids: Optional[List[str]] = None,
                 durations: Optional[Dict[str, float]] = None,
                 clip_seconds: Optional[float] = None,
                 video_paths: Optional[Dict[str, str]] = None,
                 video_dim: Optional[int] = None) -> None:
        self.reader = build_feature_reader(video_feature, video_dim)
        self.source = self.reader.path
        keys = self.reader.keys()
        if video_ids is None:
            video_ids = keys
        else:
            present = set(keys)
            missing = [v for v in video_ids if v not in present]
            if missing:
                raise PRVRDataError(
                    f'{self.source}: missing {len(missing)} of '
                    f'{len(video_ids)} videos (e.g. {missing[0]!r}); '
                    'expected features of shape (T, D)')
        if not video_ids:
            raise PRVRDataError(f'{self.source}: no video to index')
        if clip_seconds is not None and clip_seconds <= 0:
            raise ValueError(f'clip_seconds must be > 0, got {clip_seconds}')
        self.times = read_times(self.source)
        self.video_ids = list(dict.fromkeys(video_ids))
        self.durations = dict(durations or {})
        self.clip_seconds = clip_seconds
        self.video_paths = dict(video_paths or {})

    @classmethod
    def from_files(cls,
                   video_feature: str,
                   ann_file: Optional[str] = None,
                   meta_file: Optional[str] = None,
                   clip_seconds: Optional[float] = None,
                   video_dir: Optional[str] = None,
                   video_dim: Optional[int] = None) -> 'FeatureCollection':
        """A collection from MS-SL files.

        Args:
            video_feature (str): BigFile folder or h5 file.
            ann_file (str, optional): caption file whose videos to take.
            meta_file (str, optional): JSON ``{"videos": {vid:
                {"duration": s}}}`` (the dataset's meta file).
            clip_seconds (float, optional): seconds per feature row.
            video_dir (str, optional): folder of the raw videos.
            video_dim (int, optional): expected feature dimension.
        """
        ids = None
        if ann_file:
            ids = list(
                dict.fromkeys(
                    video_id_of(c) for c, _ in parse_caption_file(ann_file)))
        durations = read_durations(meta_file) if meta_file else None
        collection = cls(
            video_feature, ids, durations, clip_seconds, video_dim=video_dim)
        if video_dir:
            collection.video_paths = find_video_files(video_dir,
                                                      collection.video_ids)
        return collection

    def __len__(self) -> int:
        return len(self.video_ids)

    def __iter__(self) -> Iterator[dict]:
        """Per video ``video_id``, ``video_feat`` (T, D) float32,
        ``duration`` (seconds or None), ``times`` ((T, 2) recorded spans of
        the rows, or None: uniform rows) and ``video_path`` (or None).

        Recorded times win over ``durations`` and ``clip_seconds``, which
        serve the videos without times only.
        """
        for vid in self.video_ids:
            feats = self.reader.read(vid)
            times = None
            if vid in self.times:
                duration, times = check_times(*self.times[vid], len(feats),
                                              self.source, vid)
            else:
                duration = self.durations.get(vid)
            if duration is None and self.clip_seconds is not None:
                duration = len(feats) * self.clip_seconds
            yield dict(
                video_id=vid,
                video_feat=np.asarray(feats),
                duration=None if duration is None else float(duration),
                times=times,
                video_path=self.video_paths.get(vid))


def read_durations(meta_file: str) -> Dict[str, float]:
    """``{video id: duration}`` of a dataset meta file."""
    return layout_read_durations(meta_file)


def split_collection(dataset,
                     clip_seconds: Optional[float] = None,
                     video_dir: Optional[str] = None) -> FeatureCollection:
    """The videos of a built :class:`PRVRFeatureDataset` (in dataset order),
    with the durations of its meta file.

    Args:
        dataset (PRVRFeatureDataset): e.g. the config's test split.
        clip_seconds (float, optional): seconds per feature row for videos
            without a duration.
        video_dir (str, optional): folder of the raw videos.
    """
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    collection = FeatureCollection(
        dataset.video_reader.path, [d['video_id'] for d in infos], {
            d['video_id']: d['duration']
            for d in infos if d.get('duration') is not None
        },
        clip_seconds,
        video_dim=dataset.video_reader.dim)
    if video_dir:
        collection.video_paths = find_video_files(video_dir,
                                                  collection.video_ids)
    return collection
