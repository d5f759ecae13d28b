"""PRVR feature dataset: one item = one video with all its queries."""
import os.path as osp
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Union

from mmaction.registry import DATASETS
from mmengine.dataset import BaseDataset

from .coverage import check_coverage
from .feature_spec import check_files
from .layout import (SPLITS, collection_files, meta_problems,
                     parse_caption_file, read_meta, teacher_text_key,
                     video_id_of)
from .readers import PRVRDataError, build_feature_reader
from .toy import ensure_toy_dataset


@DATASETS.register_module()
class PRVRFeatureDataset(BaseDataset):
    """Videos with their queries, read from precomputed features.

    Reads the MS-SL layout (caption txt + h5 token features + BigFile or h5
    clip features) and, optionally, the CLIP teacher's frame and sentence
    features.  Paths are relative to ``data_root`` (so overriding
    ``data_root`` moves all of them).  With ``collection`` and ``split``
    the file names come from :mod:`prvr_mm.datasets.layout` (the folder
    ``data_root`` is then ``ROOT/<collection>``); any path given explicitly
    wins.

    Each raw item given to the pipeline holds ``video_id``, ``query_ids``,
    ``video_feat`` (T, Dv), ``query_feats`` (list of (Lq_i, Dq)), and when
    configured ``teacher_video_feat`` (Tt, Dt), ``teacher_query_feats``
    (list of (Dt,)), ``duration`` and ``timestamps``.

    Args:
        ann_file (str, optional): caption file, ``<cap_id> <sentence>``
            lines; defaults to the layout's file of ``split``.
        video_feature (str, optional): BigFile folder or h5 file of clip
            features; defaults to the layout's ``FeatureData/<visual
            feature>`` (none in subclasses that read the videos themselves,
            ``reads_video_features = False``: :class:`PRVRRawVideoDataset`).
        text_feature (str, optional): h5 of token features keyed by cap_id;
            defaults to the layout's RoBERTa file.
        teacher_video_feature (str, optional): h5 of CLIP frame features
            keyed by video id.
        teacher_text_feature (str, optional): h5 of CLIP sentence features
            keyed by cap_id with ``#enc#`` replaced by ``#`` (the exact cap_id
            is accepted too).
        meta_file (str, optional): JSON ``{"videos": {vid: {"duration": s}},
            "queries": {cap_id: {"timestamps": [s, e]}}}`` for moment hints.
        collection (str, optional): collection name of the layout (e.g.
            ``'tvr'``); needed by the layout defaults.
        split (str, optional): ``'train'``, ``'val'`` or ``'test'``.
        visual_feature (str, optional): BigFile folder name under
            ``FeatureData``; defaults to the collection's published one.
        inputs (str): which layout files are the student inputs
            (:data:`~prvr_mm.datasets.layout.INPUTS`): ``'ms_sl'``
            (default) or ``'clip'`` (CLIP frame and CLIP token files:
            CLIP-only collections of any name).
        with_teacher (bool | str): read the layout's CLIP teacher files
            (training needs them); ``'if_present'`` (evaluation splits:
            the teacher's zero-shot row of :class:`PRVRMetric`) reads them
            when both exist and says so in the log when they do not.
            Defaults to False.
        with_meta (bool): read the layout's meta file
            (``TextData/<collection>_meta.json``). Defaults to False.
        video_dim (int, optional): expected clip feature dim.
        text_dim (int, optional): expected token feature dim.
        teacher_dim (int, optional): expected CLIP feature dim.
        cache (bool): keep features in RAM after the first read.
        check_keys (bool): at start-up, check that every video id and
            cap_id of ``ann_file`` is in every feature file, that no BigFile
            video has zero frames and that h5 features have the configured
            dimension (a clear error now instead of one in the middle of an
            epoch). Costs one pass over the key lists. Defaults to True.
        clip_model (dict, optional): the CLIP spec (of :func:`~prvr_mm.
            models.teachers.open_clip_utils.build_clip`) the CLIP feature
            files must have been extracted with: the teacher files, and the
            video / query files that record a spec (CLIP-only configs), are
            refused otherwise (:mod:`prvr_mm.datasets.feature_spec`).
        generate_toy (dict, optional): when given and ``data_root`` does not
            exist, first write the toy dataset there with these keyword
            arguments of :func:`prvr_mm.datasets.toy.make_toy_dataset`.
        data_root (str): root of the paths above.
        pipeline (list): transforms.
        test_mode (bool): MMEngine flag.
    """

    #: whether items carry precomputed clip features (``video_feature``)
    reads_video_features = True

    def __init__(self,
                 ann_file: Optional[str] = None,
                 video_feature: Optional[str] = None,
                 text_feature: Optional[str] = None,
                 teacher_video_feature: Optional[str] = None,
                 teacher_text_feature: Optional[str] = None,
                 meta_file: Optional[str] = None,
                 collection: Optional[str] = None,
                 split: Optional[str] = None,
                 visual_feature: Optional[str] = None,
                 inputs: str = 'ms_sl',
                 with_teacher: bool = False,
                 with_meta: bool = False,
                 video_dim: Optional[int] = None,
                 text_dim: Optional[int] = None,
                 teacher_dim: Optional[int] = None,
                 cache: bool = False,
                 check_keys: bool = True,
                 clip_model: Optional[dict] = None,
                 generate_toy: Optional[dict] = None,
                 data_root: str = '',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        if generate_toy is not None:
            ensure_toy_dataset(data_root, **generate_toy)
        if collection is not None:
            if split not in SPLITS:
                raise ValueError(f'split must be one of {SPLITS} with '
                                 f'collection={collection!r}, got {split!r}')
            # without clip features any collection name will do
            files = collection_files(
                collection,
                visual_feature if self.reads_video_features else '', inputs)
            ann_file = ann_file or files[f'caption_{split}']
            if self.reads_video_features:
                video_feature = video_feature or files['video']
            text_feature = text_feature or files['text']
            if with_teacher == 'if_present':
                with_teacher = _teacher_files_present(data_root, files)
            if with_teacher:
                teacher_video_feature = (
                    teacher_video_feature or files['teacher_video'])
                teacher_text_feature = (
                    teacher_text_feature or files['teacher_text'])
            if with_meta:
                meta_file = meta_file or files['meta']
        elif with_teacher or with_meta or split is not None:
            raise ValueError('split, with_teacher and with_meta need '
                             'collection (the layout that names the files)')
        if not (ann_file and text_feature and
                (video_feature or not self.reads_video_features)):
            raise ValueError(
                f'{type(self).__name__} needs ann_file, video_feature and '
                'text_feature, or collection and split to take them from '
                'the MS-SL layout')
        join = (lambda p: osp.join(data_root, p) if p else None)
        self.check_keys = check_keys
        self.video_reader = build_feature_reader(
            join(video_feature), video_dim, cache) if video_feature else None
        self.text_reader = build_feature_reader(
            join(text_feature), text_dim, cache)
        self.teacher_video_reader = build_feature_reader(
            join(teacher_video_feature), teacher_dim,
            cache) if teacher_video_feature else None
        self.teacher_text_reader = build_feature_reader(
            join(teacher_text_feature), teacher_dim,
            cache) if teacher_text_feature else None
        self.meta_file = join(meta_file)
        check_files([(join(teacher_video_feature), 'teacher video features'),
                     (join(teacher_text_feature), 'teacher text features'),
                     (join(video_feature), 'video features', False),
                     (join(text_feature), 'query features', False)],
                    clip_model,
                    against="the dataset's clip_model is")
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
                video_id_of(cap_id), dict(query_ids=[], sentences=[]))
            entry['query_ids'].append(cap_id)
            entry['sentences'].append(sentence)
        data_list = [
            dict(video_id=vid, **entry) for vid, entry in videos.items()
        ]
        if self.check_keys:
            self._check_keys(data_list)
        if self.meta_file:
            self._attach_meta(data_list, self._load_meta())
        return data_list

    @property
    def readers(self) -> list:
        """The feature readers in use (student video and text, teacher)."""
        return [
            r for r in (self.video_reader, self.text_reader,
                        self.teacher_video_reader, self.teacher_text_reader)
            if r is not None
        ]

    def _check_keys(self, data_list: List[dict]) -> None:
        """Coverage, zero-frame and dimension checks of all readers
        (:func:`~prvr_mm.datasets.coverage.check_coverage`; the first
        problem is raised)."""
        vids = [d['video_id'] for d in data_list]
        caps = [q for d in data_list for q in d['query_ids']]
        checks = [(self.text_reader, caps, 'cap_ids', None, 'L')]
        if self.video_reader is not None:
            checks.insert(0, (self.video_reader, vids, 'video ids', None, 'T'))
        if self.teacher_video_reader is not None:
            checks.append(
                (self.teacher_video_reader, vids, 'video ids', None, 'T'))
        if self.teacher_text_reader is not None:
            checks.append((self.teacher_text_reader, caps, 'cap_ids', lambda c:
                           (c, teacher_text_key(c)), '1'))
        try:
            for reader, ids, what, candidates, rows in checks:
                cov = check_coverage(
                    reader, {self.ann_file: ids},
                    what,
                    rows,
                    reader.dim,
                    candidates,
                    all_shapes=False)
                if cov.problems:
                    raise PRVRDataError(cov.problems[0])
        finally:
            for reader in self.readers:
                reader.close()

    def _attach_meta(self, data_list: List[dict], meta: dict) -> None:
        """Check the meta file for the split (a duration for every video,
        timestamps within it: :func:`~prvr_mm.datasets.layout.meta_problems`,
        the first problem is raised), then add ``duration`` to every item
        and ``timestamps`` to those whose queries all have one."""
        problems = meta_problems(
            meta, self.meta_file,
            [q for info in data_list for q in info['query_ids']])
        if problems:
            more = (f' ({len(problems) - 1} more problems: '
                    'tools/data/check_dataset.py lists them all)'
                    if len(problems) > 1 else '')
            raise PRVRDataError(problems[0] + more)
        queries = meta['queries']
        for info in data_list:
            info['duration'] = float(
                meta['videos'][info['video_id']]['duration'])
            stamps = [
                queries.get(q, {}).get('timestamps') for q in info['query_ids']
            ]
            if all(s is not None for s in stamps):
                info['timestamps'] = stamps

    def _load_meta(self) -> dict:
        return read_meta(self.meta_file) if self.meta_file else {}

    @property
    def query_ids(self) -> List[str]:
        """All cap_ids in dataset order (video by video)."""
        return [
            q for i in range(len(self))
            for q in self.get_data_info(i)['query_ids']
        ]

    def load_features(self, info: dict) -> dict:
        """Read every feature of one video and its queries."""
        vid, query_ids = info['video_id'], info['query_ids']
        results = dict(info)
        if self.video_reader is not None:
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


def _teacher_files_present(data_root: str, files: dict) -> bool:
    """Whether both CLIP teacher files of a layout exist (as h5 or BigFile),
    logging the consequence when they do not."""
    from mmengine.logging import print_log

    from .readers import resolve_feature_path
    found = all(
        osp.exists(resolve_feature_path(osp.join(data_root, files[key])))
        for key in ('teacher_video', 'teacher_text'))
    if not found:
        print_log(
            f'no CLIP teacher files under {data_root} '
            f'({files["teacher_video"]}, {files["teacher_text"]}): '
            'prvr/clip_zeroshot is not reported for this split',
            logger='current')
    return found
