"""Search a video collection with a sentence: a trained PRVR model indexes
videos once and ranks them for free-text (or precomputed) queries, with the
best-matching moment of every result.

Usage::

    from prvr_mm.apis import PRVRInferencer
    inferencer = PRVRInferencer('configs/dlkd_toy.py', 'best.pth')
    inferencer.index('test', out='toy_test.index.h5')     # once
    inferencer = PRVRInferencer('configs/dlkd_toy.py', 'best.pth',
                                index='toy_test.index.h5')
    inferencer.search('someone opens the door', top_k=5)
"""
import copy
import hashlib
import json
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmaction.registry import DATASETS, INFERENCERS, MODELS
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.infer.infer import BaseInferencer, ModelType
from mmengine.registry import init_default_scope

from ...datasets.collate import build_collate_fn
from ...evaluation.metrics import PRVRMetric
from ...evaluation.moments import uniform_clip_spans
from ..collection import FeatureCollection, split_collection
from ..search_index import SearchIndex, SearchIndexError

QueryType = Union[str, np.ndarray, torch.Tensor]
QueriesType = Union[QueryType, Sequence[QueryType]]

__all__ = ['PRVRInferencer']

_SPLITS = ('train', 'val', 'test')


@INFERENCERS.register_module(name='prvr-search')
@INFERENCERS.register_module()
class PRVRInferencer(BaseInferencer):
    """Index videos with a PRVR model and search them with sentences.

    Built from a config and a checkpoint (like mmaction2's inferencers).
    :meth:`index` encodes a video collection into a :class:`SearchIndex`
    (clip embeddings of every branch, clip time spans, video files);
    :meth:`search` (or calling the inferencer) ranks the indexed videos for
    every query.

    A query is a sentence -- encoded by the config's ``text_encoder``, the
    encoder that produced the model's training query features -- or
    precomputed per-token features (L, Dq) as in the dataset's text h5. Both
    go through the config's test pipeline (L2 normalisation, token
    truncation) before the student's query encoders.

    The fusion weight and the moment run ratio are the test evaluator's
    (``test_evaluator.fusion_weight``, ``moment_run_ratio``).

    Args:
        model (str | Config | dict): config file or config.
        weights (str, optional): checkpoint. None = random weights (with a
            warning).
        index (str | SearchIndex, optional): an index file or object to
            search; it must have been built by this model and pipeline.
        device (str, optional): ``'cpu'``, ``'cuda'``... None = the
            available device.
        text_encoder (dict, optional): overrides the config's
            ``text_encoder`` (a MODELS config whose ``encode(sentences)``
            returns ``(feats (N, L, Dq), mask (N, L))``).
        scope (str): registry scope. Defaults to ``'mmaction'``.
        show_progress (bool): progress bar while indexing. Defaults to
            False.
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'top_k', 'candidates', 'return_curves'}
    visualize_kwargs: set = set()
    postprocess_kwargs: set = {'print_result', 'pred_out_file'}

    def __init__(self,
                 model: Union[ModelType, str],
                 weights: Optional[str] = None,
                 index: Optional[Union[str, SearchIndex]] = None,
                 device: Optional[str] = None,
                 text_encoder: Optional[dict] = None,
                 scope: str = 'mmaction',
                 show_progress: bool = False) -> None:
        import prvr_mm  # noqa: F401  (stack fixes + registration)
        init_default_scope(scope)
        self.config_name = model if isinstance(model, str) else (
            getattr(model, 'filename', None) or '<config object>')
        self.checkpoint = weights
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)
        # the evaluator owns the fusion weight and the moment run ratio
        metric = PRVRMetric.from_config(self.cfg)
        self.fusion_weight = metric.fusion_weight
        self.run_ratio = metric.moment_run_ratio
        self.text_encoder_cfg = text_encoder or self.cfg.get('text_encoder')
        self._text_encoder = None
        self.fingerprint = self._fingerprint()
        self.search_index: Optional[SearchIndex] = None
        if index is not None:
            self.load_index(index)

    # ----------------------------------------------------------- building

    def _init_collate(self, cfg) -> Callable:
        """The test loader's collate function, built as the Runner builds
        it (MMEngine's inferencer accepts only a registered name)."""
        loader = cfg.get('test_dataloader') or {}
        return build_collate_fn(loader.get('collate_fn'))

    def _init_model(self,
                    cfg: Config,
                    weights: Optional[str],
                    device: str = 'cpu') -> torch.nn.Module:
        """Build the student without its teacher (search never needs it;
        a real CLIP teacher would only cost memory)."""
        cfg = copy.deepcopy(cfg)
        cfg.model.teacher = None
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'checkpoint not found: {weights}')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)
            model = super()._init_model(cfg, weights, device)
        if weights is None:
            warnings.warn('PRVRInferencer: no checkpoint given, the model '
                          'has random weights')
        return model

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The config's test pipeline (same per-query and per-video
        transforms as evaluation)."""
        loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
        if loader is None:
            raise ValueError('the config has no test_dataloader (its '
                             'dataset pipeline defines the test transforms)')
        return Compose(copy.deepcopy(loader.dataset.pipeline))

    def _init_visualizer(self, cfg: Config):
        """No visualizer: results carry the curves a page draws."""
        return None

    def _fingerprint(self) -> Dict[str, str]:
        """Hashes of the weights and test pipeline, config and checkpoint
        names (an index records them; :meth:`load_index` compares)."""
        digest = hashlib.sha256()
        for key, value in sorted(self.model.state_dict().items()):
            value = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f'{key}:{value.dtype}:{value.numel()};'.encode())
            digest.update(value.view(torch.uint8).numpy().tobytes())
        loader = self.cfg.get('test_dataloader') or self.cfg.get(
            'val_dataloader')
        pipeline = json.dumps(
            loader.dataset.pipeline, sort_keys=True, default=str)
        return dict(
            weights=digest.hexdigest()[:20],
            pipeline=hashlib.sha256(pipeline.encode()).hexdigest()[:20],
            branches=','.join(self.model.branches),
            config=str(self.config_name),
            checkpoint=str(self.checkpoint))

    @property
    def query_dim(self) -> int:
        """Token feature dimension the student's query encoder takes."""
        return int(self.model.inheritance.query_proj.linear.in_features)

    @property
    def text_encoder(self) -> torch.nn.Module:
        """The config's text encoder (built on first use)."""
        if self._text_encoder is None:
            if not self.text_encoder_cfg:
                raise ValueError(
                    f'the config {self.config_name} has no text_encoder, so '
                    'sentences cannot be encoded; add text_encoder=dict('
                    "type=...) -- the encoder that produced the training "
                    'query features -- or search with precomputed token '
                    f'features of shape (L, {self.query_dim})')
            encoder = MODELS.build(copy.deepcopy(self.text_encoder_cfg))
            encoder.eval()
            self._text_encoder = encoder.to(
                next(self.model.parameters()).device)
        return self._text_encoder

    # -------------------------------------------------------------- index
    def load_index(self, index: Union[str, SearchIndex]) -> SearchIndex:
        """Use an index (file or object) built by this model.

        Raises:
            SearchIndexError: unreadable file, or built by another model /
                pipeline.
        """
        if isinstance(index, str):
            index = SearchIndex.load(index)
        index.check_fingerprint(self.fingerprint)
        # the evaluator's fusion weight rules (an ANN built with another
        # weight still yields candidates; they are re-scored with this one)
        index.fusion_weight = self.fusion_weight
        self.search_index = index
        return index

    def _collection(self, collection, data_root, ann_file, meta_file,
                    clip_seconds, video_dir):
        if isinstance(collection, FeatureCollection):
            return collection
        if collection in _SPLITS:
            loader = self.cfg.get(f'{collection}_dataloader')
            if loader is None:
                raise ValueError(f'the config has no {collection}_dataloader')
            dataset_cfg = copy.deepcopy(loader.dataset)
            if data_root is not None:
                dataset_cfg.data_root = data_root
            return split_collection(
                DATASETS.build(dataset_cfg), clip_seconds, video_dir)
        if isinstance(collection, str):
            return FeatureCollection.from_files(
                collection,
                ann_file=ann_file,
                meta_file=meta_file,
                clip_seconds=clip_seconds,
                video_dir=video_dir)
        raise TypeError(
            "collection must be 'train' / 'val' / 'test', a feature file or "
            f'BigFile folder, or a FeatureCollection; got {collection!r}')

    @torch.no_grad()
    def index(self,
              collection: Union[str, FeatureCollection] = 'test',
              out: Optional[str] = None,
              *,
              data_root: Optional[str] = None,
              ann_file: Optional[str] = None,
              meta_file: Optional[str] = None,
              clip_seconds: Optional[float] = None,
              video_dir: Optional[str] = None,
              batch_size: int = 32,
              dtype: str = 'float16',
              ann: Optional[str] = None,
              ann_params: str = '') -> SearchIndex:
        """Encode every video of a collection into a search index.

        Args:
            collection (str | FeatureCollection): ``'train'`` / ``'val'`` /
                ``'test'`` (that split of the config; ``data_root``
                overrides its root), or the path of a clip feature file
                (BigFile folder or h5; ``ann_file`` / ``meta_file`` optional),
                or a :class:`FeatureCollection`.
            out (str, optional): save the index to this file.
            data_root (str, optional): root of a config split.
            ann_file (str, optional): caption file whose videos to index
                (feature-file collections; default: every video).
            meta_file (str, optional): durations (dataset meta file).
            clip_seconds (float, optional): seconds per feature row, for
                videos without a known duration.
            video_dir (str, optional): folder of the raw videos (recorded
                per video so that a page can play them).
            batch_size (int): videos per forward pass. Defaults to 32.
            dtype (str): storage dtype, ``'float16'`` (default) or
                ``'float32'``.
            ann (str, optional): also build a faiss ANN with this
                ``index_factory`` string (see :class:`ClipANN`).
            ann_params (str): its search parameters (``'nprobe=32'``).

        Returns:
            SearchIndex: the index, also used by this inferencer from now
            on.
        """
        if dtype not in ('float16', 'float32'):
            raise ValueError(f"dtype must be 'float16' or 'float32', got "
                             f'{dtype!r}')
        source = self._collection(collection, data_root, ann_file, meta_file,
                                  clip_seconds, video_dir)
        videos = []
        batch = []
        items = iter(source)
        if self.show_progress:
            from rich.progress import track
            items = track(items, total=len(source), description='Indexing')
        for item in items:
            batch.append(item)
            if len(batch) == batch_size:
                videos.extend(self._encode_videos(batch))
                batch = []
        if batch:
            videos.extend(self._encode_videos(batch))
        index = SearchIndex.from_videos(videos,
                                        self.fusion_weight, self.fingerprint,
                                        getattr(torch, dtype))
        index.source = f'<index of {getattr(source, "source", collection)}>'
        if ann:
            index.build_ann(ann, ann_params)
        if out:
            index.save(out)
        self.search_index = index
        return index

    def _encode_videos(self, items: List[dict]) -> List[dict]:
        """Run the test pipeline and every branch's video encoder."""
        samples = []
        for item in items:
            results = dict(
                video_id=item['video_id'],
                query_ids=[],
                video_feat=item['video_feat'],
                query_feats=[np.zeros((1, 1), np.float32)])
            samples.append(self.pipeline(results))
        data = self.model.data_preprocessor(self.collate_fn(samples), False)
        inputs = data['inputs']
        lengths = inputs['video_mask'].sum(1).long().tolist()
        encoded = {
            name:
            branch.encode_video(inputs['video'],
                                inputs['video_mask']).float().cpu()
            for name, branch in self.model.branches.items()
        }
        out = []
        for i, item in enumerate(items):
            duration = item.get('duration')
            num = lengths[i]
            spans = uniform_clip_spans(
                torch.tensor([num]),
                torch.tensor([float('nan') if duration is None else duration],
                             dtype=torch.float64))
            out.append(
                dict(
                    video_id=item['video_id'],
                    clips={
                        n: e[i, :num]
                        for n, e in encoded.items()
                    },
                    spans=spans,
                    timed=duration is not None,
                    duration=duration,
                    video_path=item.get('video_path')))
        return out

    # ------------------------------------------------------------- search
    def _inputs_to_list(self, inputs: QueriesType) -> list:
        """A sentence, a (L, Dq) array or a list of them -> a list (a
        string is never taken for a folder)."""
        if isinstance(inputs, (str, np.ndarray, torch.Tensor)):
            if not isinstance(inputs, str) and inputs.ndim == 3:
                return list(inputs)
            return [inputs]
        return list(inputs)

    def _query_tokens(self, queries: list) -> List[np.ndarray]:
        """Per-token features (L_i, Dq) of every query."""
        out: List[Optional[np.ndarray]] = [None] * len(queries)
        texts = []
        for i, query in enumerate(queries):
            if isinstance(query, str):
                if not query.strip():
                    raise ValueError(
                        f'query {i} is empty: type a sentence to search for')
                texts.append(i)
                continue
            feats = np.asarray(
                query.detach().cpu()
                if isinstance(query, torch.Tensor) else query,
                dtype=np.float32)
            if feats.ndim != 2 or feats.shape[0] == 0 or \
                    feats.shape[1] != self.query_dim:
                raise ValueError(
                    f'query {i}: token features have shape {feats.shape}, '
                    f'expected (L, {self.query_dim}) with L >= 1')
            out[i] = feats
        if texts:
            feats, mask = self.text_encoder.encode([queries[i] for i in texts])
            feats = feats.detach().float().cpu()
            if feats.shape[-1] != self.query_dim:
                raise ValueError(
                    f'text encoder {self.text_encoder_cfg.get("type")} gives '
                    f'{feats.shape[-1]}-d token features but the model '
                    f'takes {self.query_dim}-d queries: use the encoder the '
                    'model was trained with')
            mask = mask.bool().cpu()
            for j, i in enumerate(texts):
                tokens = feats[j][mask[j]].numpy()
                if len(tokens) == 0:
                    raise ValueError(f'query {i} ({queries[i]!r}) encodes '
                                     'to no token')
                out[i] = tokens
        return out

    def preprocess(self, inputs: list, batch_size: int = 64, **kwargs):
        """Yield collated batches of queries (text encoded, test pipeline
        applied)."""
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start:start + batch_size]
            samples = [
                self.pipeline(
                    dict(
                        video_id='',
                        query_ids=[f'query{start + i}'],
                        video_feat=np.zeros((1, 1), np.float32),
                        query_feats=[tokens]))
                for i, tokens in enumerate(self._query_tokens(chunk))
            ]
            yield self.collate_fn(samples)

    @torch.no_grad()
    def encode_queries(self, data: dict) -> Dict[str, torch.Tensor]:
        """(q, H) query vector of every branch for a collated batch."""
        data = self.model.data_preprocessor(data, False)
        inputs = data['inputs']
        return {
            name:
            branch.encode_query(inputs['query'],
                                inputs['query_mask']).float().cpu()
            for name, branch in self.model.branches.items()
        }

    @torch.no_grad()
    def forward(self,
                inputs: dict,
                top_k: int = 10,
                candidates: Optional[int] = None,
                return_curves: bool = False) -> List[dict]:
        """Rank the indexed videos for a batch of queries."""
        index = self._require_index()
        result = index.search(
            self.encode_queries(inputs), top_k, candidates, self.run_ratio)
        return self._format(result, top_k, return_curves)

    def _require_index(self) -> SearchIndex:
        if self.search_index is None:
            raise SearchIndexError(
                'no search index: build one with PRVRInferencer.index(...) '
                'or pass index=FILE')
        return self.search_index

    def _format(self, result: dict, top_k: int,
                return_curves: bool) -> List[dict]:
        index = self.search_index
        main = 'fused' if 'fused' in result['curves'] else index.branches[0]
        rows = {
            key: value.tolist()
            for key, value in result.items() if key != 'curves'
        }
        preds = []
        for i, videos in enumerate(rows['videos']):
            items = []
            for j, v in enumerate(videos):
                if v < 0:
                    continue
                start, end = rows['start'][i][j], rows['end'][i][j]
                path = index.video_paths[v] or None
                item = dict(
                    rank=len(items) + 1,
                    video_id=index.video_ids[v],
                    score=rows['scores'][i][j],
                    **{
                        f'{b}_score': rows[f'{b}_scores'][i][j]
                        for b in index.branches
                    },
                    clip=rows['best'][i][j],
                    moment=index.moment_span(v, start, end),
                    moment_clips=[start, end],
                    unit='s' if bool(index.timed[v]) else 'clip',
                    video_path=path,
                    video_available=bool(path and osp.exists(path)))
                if return_curves:
                    num = int(index.num_clips[v])
                    item['curves'] = dict(
                        spans=index.clip_spans(v).tolist(),
                        **{
                            name: curve[i, j, :num].tolist()
                            for name, curve in result['curves'].items()
                        })
                    item['curves'].setdefault('fused', item['curves'][main])
                items.append(item)
            pred = dict(results=items, num_videos=len(index))
            if top_k > len(index):
                pred['note'] = (f'top_k={top_k} exceeds the {len(index)} '
                                f'videos of the index: all {len(index)} '
                                'are ranked')
            preds.append(pred)
        return preds

    def __call__(self,
                 inputs: QueriesType,
                 top_k: int = 10,
                 candidates: Optional[int] = None,
                 return_curves: bool = False,
                 batch_size: int = 64,
                 print_result: bool = False,
                 pred_out_file: str = '',
                 return_datasamples: bool = False) -> dict:
        """Search the index for every query.

        Args:
            inputs (str | array | list): sentence(s) and / or (L, Dq)
                token features.
            top_k (int): videos per query. Defaults to 10.
            candidates (int, optional): ANN clip candidates re-scored
                exactly (needs an index with an ANN); None = exact search.
            return_curves (bool): attach every result's clip spans and
                per-branch / fused clip cosines. Defaults to False.
            batch_size (int): queries per forward pass. Defaults to 64.
            print_result (bool): print the predictions. Defaults to False.
            pred_out_file (str): dump the predictions as JSON.
            return_datasamples (bool): unused (dicts are returned).

        Returns:
            dict: ``predictions``: per query ``query``, ``results`` (per
            video ``rank``, ``video_id``, ``score`` (fused),
            ``<branch>_score``, ``clip``, ``moment`` [start, end],
            ``moment_clips``, ``unit`` (``'s'`` or ``'clip'``),
            ``video_path``, ``video_available`` and optionally ``curves``),
            ``num_videos`` and, when ``top_k`` exceeds the collection, a
            ``note``; ``visualization``: None.
        """
        self._require_index()
        if top_k < 1:
            raise ValueError(f'top_k must be >= 1, got {top_k}')
        queries = self._inputs_to_list(inputs)
        if not queries:
            raise ValueError('no query given')
        preds = []
        for data in self.preprocess(queries, batch_size=batch_size):
            preds.extend(
                self.forward(
                    data,
                    top_k=top_k,
                    candidates=candidates,
                    return_curves=return_curves))
        for query, pred in zip(queries, preds):
            pred['query'] = query if isinstance(query, str) else \
                f'<token features {tuple(np.shape(query))}>'
        return self.postprocess(preds, None, return_datasamples, print_result,
                                pred_out_file)

    def search(self,
               queries: QueriesType,
               top_k: int = 10,
               **kwargs) -> List[dict]:
        """``self(queries, top_k, ...)['predictions']``."""
        return self(queries, top_k=top_k, **kwargs)['predictions']

    def visualize(self, inputs: list, preds: list, **kwargs) -> None:
        """Nothing to draw here: ``return_curves=True`` gives the data of
        the similarity curves (``demo/prvr_search.py --serve`` draws
        them)."""
        return None

    def postprocess(self,
                    preds: List[dict],
                    visualization=None,
                    return_datasample: bool = False,
                    print_result: bool = False,
                    pred_out_file: str = '') -> dict:
        """Pack (and optionally print / dump) the predictions."""
        result = dict(predictions=preds, visualization=visualization)
        if print_result:
            print(json.dumps(preds, indent=2))
        if pred_out_file:
            import mmengine
            mmengine.dump(dict(predictions=preds), pred_out_file)
        return result
