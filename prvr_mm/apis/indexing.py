"""Encode a video collection into a search index: clip features through
the config's video pipeline and every student branch's video encoder.

:class:`VideoIndexer` takes a model and its config; :meth:`VideoIndexer.
index` reads a collection (a config split, a feature file or BigFile
folder, or a :class:`~prvr_mm.apis.FeatureCollection`), encodes it in
batches, assembles a :class:`~prvr_mm.apis.SearchIndex` with the model's
fingerprint (and the evaluator's fusion weights), optionally builds a
faiss :class:`~prvr_mm.apis.ClipANN` under those weights, and saves it.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Union

import torch
from mmaction.registry import DATASETS
from mmengine.config import Config
from torch.nn.utils.rnn import pad_sequence

from ..datasets.feature_spec import check_files, text_encoder_clip_spec
from ..datasets.feature_times import segment_spans
from ..datasets.layout import find_videos
from ..errors import PRVRConfigError, PRVRDataError
from ..evaluation.metrics import PRVRMetric
from ..evaluation.moments import uniform_clip_spans
from .ann import ClipANN
from .collection import FeatureCollection, split_collection
from .fingerprint import model_fingerprint
from .index_io import save_index
from .model import init_model, model_device
from .pipelines import search_pipelines, test_pipeline_of
from .search_index import SearchIndex

__all__ = ['VideoIndexer', 'index_collection']

_SPLITS = ('train', 'val', 'test')
CollectionType = Union[str, FeatureCollection]


class VideoIndexer:
    """Encode video collections into search indexes with a PRVR model.

    Args:
        model (nn.Module): a PRVR student (its ``branches`` encode videos),
            in eval mode.
        cfg (Config): its config (test pipeline, splits, test evaluator).
        fingerprint (dict, optional): the model's fingerprint
            (:func:`~prvr_mm.apis.fingerprint.model_fingerprint`); computed
            when None.
        config_name (str, optional): config name recorded in it.
        checkpoint (str, optional): checkpoint name recorded in it.
        batch_size (int): videos per forward pass. Defaults to 32.
        show_progress (bool): a progress bar while encoding. Defaults to
            False.
    """

    def __init__(self,
                 model: torch.nn.Module,
                 cfg: Config,
                 fingerprint: Optional[Dict[str, object]] = None,
                 config_name: Optional[str] = None,
                 checkpoint: Optional[str] = None,
                 batch_size: int = 32,
                 show_progress: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.model = model
        self.cfg = cfg
        self.pipeline, _ = search_pipelines(cfg)
        # the evaluator owns the fusion weights
        self.weights = PRVRMetric.from_config(cfg).fusion_weights
        self.fingerprint = fingerprint or model_fingerprint(
            model, test_pipeline_of(cfg), self.weights, config_name,
            checkpoint)
        self.batch_size = batch_size
        self.show_progress = show_progress

    @classmethod
    def from_config(cls,
                    config: Union[str, Config],
                    checkpoint: Optional[str] = None,
                    device: str = 'cpu',
                    **kwargs) -> 'VideoIndexer':
        """An indexer of a config and checkpoint (the student only)."""
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        model = init_model(cfg, checkpoint, device, with_teacher=False)
        name = config if isinstance(config, str) else cfg.filename
        return cls(
            model, cfg, config_name=name, checkpoint=checkpoint, **kwargs)

    def collection(self,
                   collection: CollectionType = 'test',
                   data_root: Optional[str] = None,
                   ann_file: Optional[str] = None,
                   meta_file: Optional[str] = None,
                   clip_seconds: Optional[float] = None,
                   video_dir: Optional[str] = None) -> FeatureCollection:
        """The videos of a collection (see :meth:`index` for the
        arguments)."""
        if isinstance(collection, FeatureCollection):
            self.check_clip_spec([(collection.source, 'video features', False)
                                  ])
            return collection
        if collection in _SPLITS:
            loader = self.cfg.get(f'{collection}_dataloader')
            if loader is None:
                raise PRVRConfigError(
                    f'the config has no {collection}_dataloader')
            dataset_cfg = copy.deepcopy(loader.dataset)
            if data_root is not None:
                dataset_cfg.data_root = data_root
            dataset = DATASETS.build(dataset_cfg)
            self.check_clip_spec([
                (dataset.video_reader.path, 'video features', False),
                (dataset.text_reader.path, 'query features')
            ])
            return split_collection(dataset, clip_seconds, video_dir)
        if isinstance(collection, str):
            _refuse_raw_videos(collection)
            self.check_clip_spec([(collection, 'video features', False)])
            return FeatureCollection.from_files(
                collection,
                ann_file=ann_file,
                meta_file=meta_file,
                clip_seconds=clip_seconds,
                video_dir=video_dir)
        raise TypeError(
            "collection must be 'train' / 'val' / 'test', a feature file or "
            f'BigFile folder, or a FeatureCollection; got {collection!r}')

    def check_clip_spec(self, files: List[tuple]) -> None:
        """Refuse CLIP feature files (``(path, what[, warn])``) extracted
        with another CLIP than the config's ``text_encoder`` (when it is an
        open_clip one): free-text queries would not live in their space
        (:mod:`prvr_mm.datasets.feature_spec`)."""
        check_files(
            files,
            text_encoder_clip_spec(self.cfg.get('text_encoder')),
            against="the config's text_encoder is")

    @torch.no_grad()
    def encode(self, items: List[dict]) -> List[dict]:
        """Encode a batch of videos with every branch.

        Args:
            items (list[dict]): per video ``video_id``, ``video_feat``
                (T, Dv), ``duration`` (seconds or None), ``times`` ((T, 2)
                or None), ``video_path``.

        Returns:
            list[dict]: per video ``video_id``, ``clips`` (branch -> (T', H)
            float32, T' clips after the pipeline), ``spans`` (T', 2),
            ``timed``, ``duration`` and ``video_path``.
        """
        samples = [self.pipeline(dict(item)) for item in items]
        videos = [s['inputs']['video'] for s in samples]
        device = model_device(self.model)
        lengths = torch.tensor([len(v) for v in videos])
        clips = pad_sequence(videos, batch_first=True).to(device)
        mask = (torch.arange(clips.shape[1])[None]
                < lengths[:, None]).float().to(device)
        encoded = {
            name: branch.encode_video(clips, mask).float().cpu()
            for name, branch in self.model.branches.items()
        }
        spans = self.spans(items, lengths)
        return [
            dict(
                video_id=item['video_id'],
                clips={
                    n: e[i, :lengths[i]]
                    for n, e in encoded.items()
                },
                spans=spans[i],
                timed=item.get('duration') is not None,
                duration=item.get('duration'),
                video_path=item.get('video_path'))
            for i, item in enumerate(items)
        ]

    @staticmethod
    def spans(items: List[dict], lengths: torch.Tensor) -> List[torch.Tensor]:
        """Time spans of every clip after the pipeline.

        A video with recorded ``times`` (T, 2) (the extraction tools'
        files) gets, for each of its T' clips, the span of the feature rows
        the pipeline averaged into it (:func:`~prvr_mm.datasets.
        feature_times.segment_spans`): within ``[0, duration]``. Other
        videos get uniform clips over their ``duration``, or clip units
        without one (:func:`~prvr_mm.evaluation.moments.uniform_clip_spans`).

        Args:
            items (list[dict]): the videos (``times``, ``duration``).
            lengths (Tensor): (V,) clips per video after the pipeline.

        Returns:
            list[Tensor]: (T'_i, 2) float64 spans per video.
        """
        durations = torch.tensor([
            float('nan') if item.get('duration') is None else item['duration']
            for item in items
        ],
                                 dtype=torch.float64)
        spans = list(
            uniform_clip_spans(lengths, durations).split(lengths.tolist()))
        for i, item in enumerate(items):
            if item.get('times') is not None:
                spans[i] = torch.from_numpy(
                    segment_spans(item['times'], int(lengths[i])))
        return spans

    def index(self,
              collection: CollectionType = 'test',
              out: Optional[str] = None,
              *,
              data_root: Optional[str] = None,
              ann_file: Optional[str] = None,
              meta_file: Optional[str] = None,
              clip_seconds: Optional[float] = None,
              video_dir: Optional[str] = None,
              dtype: str = 'float16',
              ann: Optional[str] = None,
              ann_params: str = '') -> SearchIndex:
        """Encode every video of a collection into a search index.

        Args:
            collection (str | FeatureCollection): ``'train'`` / ``'val'`` /
                ``'test'`` (that split of the config; ``data_root``
                overrides its root), or the path of a clip feature file
                (BigFile folder or h5; ``ann_file`` / ``meta_file``
                optional), or a :class:`FeatureCollection`.
            out (str, optional): save the index to this file.
            data_root (str, optional): root of a config split.
            ann_file (str, optional): caption file whose videos to index
                (feature-file collections; default: every video).
            meta_file (str, optional): durations (dataset meta file).
            clip_seconds (float, optional): seconds per feature row, for
                videos without a known duration.
            video_dir (str, optional): folder of the raw videos (recorded
                per video so that a page can play them).
            dtype (str): storage dtype, ``'float16'`` (default) or
                ``'float32'``.
            ann (str, optional): also build a faiss ANN with this
                ``index_factory`` string (see :class:`ClipANN`), under the
                evaluator's fusion weights.
            ann_params (str): its search parameters (``'nprobe=32'``).

        Returns:
            SearchIndex: the index (saved to ``out`` when given).
        """
        if dtype not in ('float16', 'float32'):
            raise ValueError(f"dtype must be 'float16' or 'float32', got "
                             f'{dtype!r}')
        source = self.collection(collection, data_root, ann_file, meta_file,
                                 clip_seconds, video_dir)
        items = iter(source)
        if self.show_progress:
            from rich.progress import track
            items = track(items, total=len(source), description='Indexing')
        videos, batch = [], []
        for item in items:
            batch.append(item)
            if len(batch) == self.batch_size:
                videos.extend(self.encode(batch))
                batch = []
        if batch:
            videos.extend(self.encode(batch))
        index = SearchIndex.from_videos(videos, self.fingerprint,
                                        getattr(torch, dtype))
        index.source = f'<index of {getattr(source, "source", collection)}>'
        if ann:
            index.set_ann(
                ClipANN(ann, ann_params, self.weights).build(index.clips))
        if out:
            save_index(index, out)
        return index


def _refuse_raw_videos(path: str) -> None:
    """A folder of raw videos (not a BigFile folder) given as a collection:
    the error names the extraction command that makes its features.

    Raises:
        PRVRDataError: ``path`` is a folder of videos without ``shape.txt``.
    """
    if not osp.isdir(path) or osp.exists(osp.join(path, 'shape.txt')):
        return
    try:
        videos = find_videos(path)
    except PRVRDataError:
        return  # not a video folder: the feature reader names the problem
    if videos:
        raise PRVRDataError(
            f'{path} is a folder of {len(videos)} raw videos, not features: '
            'the index is built from the clip features the model was '
            'trained on. Extract them first, e.g. for a CLIP-only model '
            f'python tools/data/extract_clip_features.py {path} ROOT NAME '
            '--fps 0.6667 --pretrained openai --no-text --video-out '
            'ROOT/NAME/clip_frames.hdf5, then --build-index '
            'ROOT/NAME/clip_frames.hdf5 --clip-seconds 1.5 --video-dir '
            f'{path} (docs/search.md)')


def index_collection(model: torch.nn.Module,
                     cfg: Config,
                     collection: CollectionType = 'test',
                     out: Optional[str] = None,
                     **kwargs) -> SearchIndex:
    """``VideoIndexer(model, cfg).index(collection, out, **kwargs)``."""
    indexer_args = {
        k: kwargs.pop(k)
        for k in ('batch_size', 'show_progress', 'fingerprint') if k in kwargs
    }
    return VideoIndexer(model, cfg,
                        **indexer_args).index(collection, out, **kwargs)
