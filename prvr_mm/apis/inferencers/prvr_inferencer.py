"""Search a video index with sentences: a trained PRVR model encodes the
queries and ranks the indexed videos, with the best-matching moment of
every result, as an MMEngine inferencer.

Usage::

    from prvr_mm.apis import PRVRInferencer
    inferencer = PRVRInferencer('configs/dlkd_toy.py', 'best.pth')
    inferencer.index('test', out='toy_test.index.h5')     # once
    inferencer = PRVRInferencer('configs/dlkd_toy.py', 'best.pth',
                                index='toy_test.index.h5')
    inferencer('someone opens the door', top_k=5, vis_out_dir='vis/')
"""
import copy
import json
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Union

import mmengine
import numpy as np
import torch
from mmaction.registry import INFERENCERS
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.infer.infer import BaseInferencer, ModelType
from mmengine.registry import init_default_scope
from torch.nn.utils.rnn import pad_sequence

from ...errors import CheckpointError, SearchIndexError
from ...evaluation.metrics import PRVRMetric
from ...utils.hardware import autocast_context
from ..fingerprint import model_fingerprint
from ..index_io import load_index
from ..indexing import VideoIndexer
from ..model import init_model, model_device
from ..pipelines import search_pipelines, test_pipeline_of
from ..queries import (QueryTokenizer, QueryType, describe_query,
                       note_truncation, query_token_limit)
from ..results import format_predictions, prediction_to_dict
from ..search import search_videos
from ..search_index import SearchIndex
from ..visualization import draw_search_result, save_image

QueriesType = Union[QueryType, Sequence[QueryType]]

__all__ = ['PRVRInferencer']


@INFERENCERS.register_module(name='prvr-search')
@INFERENCERS.register_module()
class PRVRInferencer(BaseInferencer):
    """Search indexed videos with sentences or token features.

    Built from a config and a checkpoint like mmaction2's inferencers, and
    called like them: ``inferencer(queries, top_k=5)`` runs
    :meth:`preprocess` (text encoder, the query half of the test pipeline),
    :meth:`forward` (the students' query encoders, then
    :func:`~prvr_mm.apis.search.search_videos` on the index),
    :meth:`visualize` (similarity curves, when asked) and
    :meth:`postprocess`. The index comes from a file or object
    (``index=``, :meth:`load_index`) or from :meth:`index`, a thin
    delegate of :class:`~prvr_mm.apis.VideoIndexer`.

    The fusion weights and the moment run ratio are the test evaluator's
    (:meth:`PRVRMetric.from_config
    <prvr_mm.evaluation.PRVRMetric.from_config>`); an index built under
    other weights is refused.

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
        show_progress (bool): progress bars while searching and indexing.
            Defaults to False.
        precision (str): precision of the query encoding and of the exact
            search's products: ``'auto'`` (default: bf16 where the device
            runs it faster), ``'fp32'`` or ``'bf16'``
            (:func:`~prvr_mm.apis.search.search_videos`).
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'top_k', 'candidates'}
    visualize_kwargs: set = {'return_vis', 'show', 'vis_out_dir', 'vis_topk'}
    postprocess_kwargs: set = {
        'print_result', 'pred_out_file', 'return_curves'
    }

    def __init__(self,
                 model: Union[ModelType, str],
                 weights: Optional[str] = None,
                 index: Optional[Union[str, SearchIndex]] = None,
                 device: Optional[str] = None,
                 text_encoder: Optional[dict] = None,
                 scope: str = 'mmaction',
                 show_progress: bool = False,
                 precision: str = 'auto') -> None:
        import prvr_mm  # noqa: F401  (stack fixes + registration)
        init_default_scope(scope)
        self.config_name = model if isinstance(model, str) else (
            getattr(model, 'filename', None) or '<config object>')
        self.checkpoint = weights
        self.precision = precision
        self.num_visualized = 0
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)
        metric = PRVRMetric.from_config(self.cfg)  # owns weights and ratio
        self.fusion_weights = metric.fusion_weights
        self.run_ratio = metric.moment_run_ratio
        self.fingerprint = model_fingerprint(self.model,
                                             test_pipeline_of(self.cfg),
                                             self.fusion_weights,
                                             self.config_name, self.checkpoint)
        self.tokenizer = QueryTokenizer(
            self.query_dim,
            text_encoder or self.cfg.get('text_encoder'),
            device=model_device(self.model),
            config_name=str(self.config_name),
            precision=precision)
        self.max_query_tokens = query_token_limit(test_pipeline_of(self.cfg))
        self.search_index: Optional[SearchIndex] = None
        if index is not None:
            self.load_index(index)

    # ----------------------------------------------------------- building
    def _init_model(self,
                    cfg: Config,
                    weights: Optional[str],
                    device: str = 'cpu') -> torch.nn.Module:
        """Build the student without its teacher (search never needs it;
        a real CLIP teacher would only cost memory) and load the checkpoint
        strictly (:func:`~prvr_mm.apis.init_model`: a checkpoint of another
        architecture is refused, like ``tools/test.py`` refuses it)."""
        if weights is not None and not osp.isfile(weights):
            raise CheckpointError(f'checkpoint not found: {weights}')
        model = init_model(
            copy.deepcopy(cfg), weights, device=device, with_teacher=False)
        model.cfg = cfg
        if weights is None and any(True for _ in model.parameters()):
            warnings.warn('PRVRInferencer: no checkpoint given, the model '
                          'has random weights')
        return model

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The query half of the config's test pipeline
        (:func:`~prvr_mm.apis.pipelines.search_pipelines`)."""
        return search_pipelines(cfg)[1]

    def _init_collate(self, cfg: Config):
        """Lists of packed queries; :meth:`forward` pads them."""
        return pseudo_collate

    def _init_visualizer(self, cfg: Config):
        """No MMEngine visualizer: :meth:`visualize` draws the curves."""
        return None

    @property
    def query_dim(self) -> int:
        """Token feature dimension the model's query encoder takes (its
        ``query_dim``, else the inheritance branch's input width)."""
        if hasattr(self.model, 'query_dim'):
            return int(self.model.query_dim)
        return int(self.model.inheritance.query_proj.linear.in_features)

    # -------------------------------------------------------------- index
    def load_index(self, index: Union[str, SearchIndex]) -> SearchIndex:
        """Search this index (file or object) from now on.

        Raises:
            SearchIndexError: unreadable file, or built by another model,
                pipeline or under other fusion weights.
        """
        if isinstance(index, str):
            index = load_index(index)
        index.check_fingerprint(self.fingerprint)
        self.search_index = index
        return index

    def index(self,
              collection='test',
              out: Optional[str] = None,
              *,
              batch_size: int = 32,
              show_progress: Optional[bool] = None,
              **kwargs) -> SearchIndex:
        """Encode a collection with this model (:meth:`VideoIndexer.index
        <prvr_mm.apis.VideoIndexer.index>`, same arguments) and search it
        from now on.

        Returns:
            SearchIndex: the index (saved to ``out`` when given).
        """
        indexer = VideoIndexer(
            self.model,
            self.cfg,
            fingerprint=self.fingerprint,
            batch_size=batch_size,
            show_progress=self.show_progress
            if show_progress is None else show_progress)
        self.search_index = indexer.index(collection, out, **kwargs)
        return self.search_index

    # ------------------------------------------------------------- search
    def _inputs_to_list(self, inputs: QueriesType) -> list:
        """A sentence, a (L, Dq) array, a (n, L, Dq) array or a list of
        them -> a list of queries (a string is never taken for a
        folder)."""
        if isinstance(inputs, (str, np.ndarray, torch.Tensor)):
            if not isinstance(inputs, str) and inputs.ndim == 3:
                inputs = list(inputs)
            else:
                inputs = [inputs]
        inputs = list(inputs)
        if not inputs:
            raise ValueError('no query given')
        return inputs

    def preprocess(self, inputs: list, batch_size: int = 1, **kwargs):
        """Yield collated batches of queries: sentences through the text
        encoder, then the query pipeline (L2 normalisation, truncation).

        Raises:
            SearchIndexError: no index to search.
        """
        if self.search_index is None:
            raise SearchIndexError(
                'no search index: build one with PRVRInferencer.index(...) '
                'or pass index=FILE')
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start:start + batch_size]
            tokens = self.tokenizer(chunk, first=start)
            packed = [
                self.pipeline(dict(query_feats=[t], query=describe_query(q)))
                for q, t in zip(chunk, tokens)
            ]
            for item, t in zip(packed, tokens):  # before any truncation
                item['data_samples'].set_metainfo(dict(num_tokens=len(t)))
            yield self.collate_fn(packed)

    @torch.no_grad()
    def encode_queries(self, data: dict) -> Dict[str, torch.Tensor]:
        """(q, H) query vector of every branch for a collated batch."""
        device = model_device(self.model)
        tokens = data['inputs']['query']
        lengths = torch.tensor([len(t) for t in tokens])
        query = pad_sequence(tokens, batch_first=True).to(device)
        mask = (torch.arange(query.shape[1])[None]
                < lengths[:, None]).float().to(device)
        with autocast_context(self.precision, str(device)):
            return {
                name: branch.encode_query(query, mask).float().cpu()
                for name, branch in self.model.branches.items()
            }

    @torch.no_grad()
    def forward(self,
                inputs: dict,
                top_k: int = 10,
                candidates: Optional[int] = None) -> List[dict]:
        """Rank the indexed videos for a batch of queries.

        Returns:
            list[dict]: per query ``query`` and the prediction of
            :func:`~prvr_mm.apis.results.format_predictions` (with
            curves as arrays).
        """
        result = search_videos(self.search_index, self.encode_queries(inputs),
                               self.fusion_weights, top_k, candidates,
                               self.run_ratio, self.precision)
        preds = format_predictions(self.search_index, result, top_k)
        for pred, sample in zip(preds, inputs['data_samples']):
            pred['query'] = sample.query
            note_truncation(pred, sample.num_tokens, self.max_query_tokens)
        return preds

    def visualize(self,
                  inputs: list,
                  preds: List[dict],
                  return_vis: bool = False,
                  show: bool = False,
                  vis_out_dir: str = '',
                  vis_topk: int = 5) -> Optional[list]:
        """Draw every query's similarity over time in its top videos.

        Args:
            inputs (list): the queries.
            preds (list[dict]): the predictions of :meth:`forward`.
            return_vis (bool): return the images. Defaults to False.
            show (bool): show every image in a window. Defaults to False.
            vis_out_dir (str): write one PNG per query there
                (``query_00000.png``, ... numbered over the calls of this
                inferencer). Defaults to ``''`` (none).
            vis_topk (int): videos drawn per query. Defaults to 5.

        Returns:
            list | None: the (H, W, 3) uint8 RGB images when
            ``return_vis``, else the written PNG paths when
            ``vis_out_dir``, else None.
        """
        if not (return_vis or show or vis_out_dir):
            return None
        images, paths = [], []
        for pred in preds:
            image = draw_search_result(pred, vis_topk)
            if vis_out_dir:
                name = f'query_{self.num_visualized:05d}.png'
                paths.append(save_image(image, osp.join(vis_out_dir, name)))
            if show:
                import mmcv
                mmcv.imshow(image[..., ::-1], win_name=pred['query'])
            self.num_visualized += 1
            images.append(image)
        return images if return_vis else (paths or None)

    def postprocess(self,
                    preds: List[dict],
                    visualization: Optional[list] = None,
                    return_datasample: bool = False,
                    print_result: bool = False,
                    pred_out_file: str = '',
                    return_curves: bool = False) -> dict:
        """Pack (and optionally print / dump) the predictions.

        Args:
            preds (list[dict]): the predictions of :meth:`forward`.
            visualization (list, optional): from :meth:`visualize`.
            return_datasample (bool): keep the raw predictions (curves as
                arrays). Defaults to False.
            print_result (bool): print them. Defaults to False.
            pred_out_file (str): dump them as JSON. Defaults to ``''``.
            return_curves (bool): keep every result's ``curves`` (clip
                ``spans`` and per-branch / fused clip cosines). Defaults to
                False.

        Returns:
            dict: ``predictions``: per query ``query``, ``results`` (per
            video ``rank``, ``video_id``, ``score`` (fused),
            ``<branch>_score``, ``clip``, ``moment`` [start, end],
            ``moment_clips``, ``unit`` (``'s'`` or ``'clip'``),
            ``video_path``, ``video_available`` and optionally ``curves``),
            ``num_videos`` and a ``note`` when ``top_k`` exceeds the index
            or the query was cut to ``max_desc_l`` tokens (then also
            ``query_tokens`` and ``truncated_tokens``, see
            :func:`~prvr_mm.apis.queries.note_truncation`);
            ``visualization``: from :meth:`visualize`.
        """
        if not return_datasample:
            preds = [prediction_to_dict(p, return_curves) for p in preds]
        if print_result:
            print(json.dumps(preds, indent=2, default=str))
        if pred_out_file:
            mmengine.dump(dict(predictions=preds), pred_out_file)
        return dict(predictions=preds, visualization=visualization)

    def search(self,
               queries: QueriesType,
               top_k: int = 10,
               batch_size: int = 64,
               **kwargs) -> List[dict]:
        """``self(queries, batch_size=64, top_k=top_k, ...)['predictions']``
        (the keyword arguments of :meth:`forward`, :meth:`visualize` and
        :meth:`postprocess`)."""
        return self(
            queries, batch_size=batch_size, top_k=top_k,
            **kwargs)['predictions']
