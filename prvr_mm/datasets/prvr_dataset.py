"""PRVR feature dataset: one item = one video with all its queries."""
import json
import os.path as osp
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from mmaction.registry import DATASETS
from .toy import ensure_toy_dataset
from .readers import (PRVRDataError, build_feature_reader, parse_caption_file,
                      teacher_text_key, video_id_of)


@DATASETS.register_module()
class PRVRFeatureDataset(BaseDataset):
    """Videos with their queries, read from precomputed features.

    Reads the MS-SL layout (caption txt + h5 token features + BigFile or h5
    clip features) and, optionally, the CLIP teacher's frame and sentence
    features.  Paths are relative to ``data_root`` (so overriding
    ``data_root`` moves all of them).

    Each raw item given to the pipeline holds ``video_id``, ``query_ids``,
    ``video_feat`` (T, Dv), ``query_feats`` (list of (Lq_i, Dq)), and when
    configured ``teacher_video_feat`` (Tt, Dt), ``teacher_query_feats``
    (list of (Dt,)), ``duration`` and ``timestamps``.

    Args:
        ann_file (str): caption file, ``<cap_id> <sentence>`` lines.
        video_feature (str): BigFile folder or h5 file of clip features.
        text_feature (str): h5 of token features keyed by cap_id.
        teacher_video_feature (str, optional): h5 of CLIP frame features
            keyed by video id.
        teacher_text_feature (str, optional): h5 of CLIP sentence features
            keyed by cap_id with ``#enc#`` replaced by ``#`` (the exact cap_id
            is accepted too).
        meta_file (str, optional): JSON ``{"videos": {vid: {"duration": s}},
            "queries": {cap_id: {"timestamps": [s, e]}}}`` for moment hints.
        video_dim (int, optional): expected clip feature dim.
        text_dim (int, optional): expected token feature dim.
        teacher_dim (int, optional): expected CLIP feature dim.
        cache (bool): keep features in RAM after the first read.
        generate_toy (dict, optional): when given and ``data_root`` does not
            exist, first write the toy dataset there with these keyword
            arguments of :func:`prvr_mm.datasets.toy.make_toy_dataset`.
        data_root (str): root of the paths above.
        pipeline (list): transforms.
        test_mode (bool): MMEngine flag.
    """

    def __init__(self,
                 ann_file: str,
                 video_feature: str,
                 text_feature: str,
                 teacher_video_feature: Optional[str] = None,
                 teacher_text_feature: Optional[str] = None,
                 meta_file: Optional[str] = None,
                 video_dim: Optional[int] = None,
                 text_dim: Optional[int] = None,
                 teacher_dim: Optional[int] = None,
                 cache: bool = False,
                 generate_toy: Optional[dict] = None,
                 data_root: str = '',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        if generate_toy is not None:
            ensure_toy_dataset(data_root, **generate_toy)
        join = (lambda p: osp.join(data_root, p) if p else None)
        self.cache = cache
        self.video_reader = build_feature_reader(
            join(video_feature), video_dim, cache)
        self.text_reader = build_feature_reader(
            join(text_feature), text_dim, cache)
        self.teacher_video_reader = build_feature_reader(
            join(teacher_video_feature), teacher_dim,
            cache) if teacher_video_feature else None
        self.teacher_text_reader = build_feature_reader(
            join(teacher_text_feature), teacher_dim,
            cache) if teacher_text_feature else None
        self.meta_file = join(meta_file)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Group the caption file's queries by video (file order)."""
        videos = OrderedDict()
        for cap_id, sentence in parse_caption_file(self.ann_file):
            entry = videos.setdefault(
                video_id_of(cap_id),
                dict(query_ids=[], sentences=[]))
            entry['query_ids'].append(cap_id)
            entry['sentences'].append(sentence)
        meta = self._load_meta()
        data_list = []
        for vid, entry in videos.items():
            info = dict(video_id=vid, **entry)
            if meta:
                duration = meta.get('videos', {}).get(vid, {}).get('duration')
                if duration is not None:
                    info['duration'] = float(duration)
                qmeta = meta.get('queries', {})
                stamps = [qmeta.get(q, {}).get('timestamps')
                          for q in entry['query_ids']]
                if all(s is not None for s in stamps):
                    info['timestamps'] = stamps
            data_list.append(info)
        return data_list

    def _load_meta(self) -> dict:
        if not self.meta_file:
            return {}
        if not osp.isfile(self.meta_file):
            raise PRVRDataError(f'meta file not found: {self.meta_file}')
        with open(self.meta_file) as f:
            return json.load(f)

    @property
    def query_ids(self) -> List[str]:
        """All cap_ids in dataset order (video by video)."""
        return [q for i in range(len(self)) for q in
                self.get_data_info(i)['query_ids']]

    def load_features(self, info: dict) -> dict:
        """Read every feature of one video and its queries."""
        vid, query_ids = info['video_id'], info['query_ids']
        results = dict(info)
        results['video_feat'] = self.video_reader.read(vid)
        results['query_feats'] = [self.text_reader.read(q) for q in query_ids]
        if self.teacher_video_reader is not None:
            results['teacher_video_feat'] = self.teacher_video_reader.read(vid)
        if self.teacher_text_reader is not None:
            results['teacher_query_feats'] = [
                self._read_teacher_text(q) for q in query_ids
            ]
        return results

    def _read_teacher_text(self, cap_id: str):
        reader = self.teacher_text_reader
        key = teacher_text_key(cap_id)
        if key not in reader and cap_id in reader:
            key = cap_id
        feats = reader.read(key)
        if feats.shape[0] != 1:
            raise PRVRDataError(
                f'{reader.path}: key {key!r} has shape {feats.shape}, '
                f'expected (1, {reader.dim or "D"}) or ({reader.dim or "D"},)')
        return feats[0]

    def prepare_data(self, idx: int) -> dict:
        """Read features of item ``idx`` and run the pipeline."""
        return self.pipeline(self.load_features(self.get_data_info(idx)))
