"""PRVR retrieval metric: ranks every video for every query, per branch and
fused, from the clip and query embeddings that the model predicts."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmaction.registry import METRICS
from mmengine.evaluator import BaseMetric
from torch.nn.utils.rnn import pad_sequence

from ...errors import PRVRConfigError
from ...models.students.dual_student_recognizer import ZERO_SHOT
from ..functional import retrieval_metrics
from ..moments import DEFAULT_RUN_RATIO, moment_metrics
from ..rankings import write_rankings
from ..scoring import fuse, fusion_weights, max_over_clips


@METRICS.register_module()
class PRVRMetric(BaseMetric):
    """R@1/5/10/100, SumR, MedR, MnR and mAP of text-to-video retrieval.

    ``process`` stores, per video, its clip embeddings and the embeddings of
    its queries (the ground truth of a query is the video it came with, so
    several queries may share a video).  ``compute_metrics`` scores every
    query against every video (cosine, max over valid clips, in chunks),
    fuses the branches (:func:`~prvr_mm.evaluation.scoring.fuse`,
    ``w * inher + (1 - w) * explore``) and ranks. This metric's settings
    are the one owner of the fusion weights and the moment run ratio: the
    search and analysis tools read them from the config through
    :meth:`from_config`.
    The fused results are reported as ``prvr/R@1``... ``prvr/SumR``, each
    branch as ``prvr/{branch}/R@1``... and the fusion with every weight of
    ``extra_fusion_weights`` as ``prvr/fused@{w}/R@1``... (e.g.
    ``prvr/fused@0.5/SumR``), so that several fusion conventions are
    compared from one evaluation.

    When every video has a ``duration`` and every query ``timestamps`` (a
    dataset ``meta_file``), the moment hints are measured too: for every
    query, the best run of clips in its ground-truth video
    (:func:`~prvr_mm.evaluation.moments.best_runs`, uniform clips) is
    compared with the annotated moment: ``prvr/moment/hit`` (fraction of
    queries whose hint overlaps the moment), ``prvr/moment/mIoU`` (mean
    temporal IoU) and ``clip_hit`` / ``clip_mIoU`` for the best clip alone;
    fused, and per branch as ``prvr/{branch}/moment/...``.

    When the samples carry the CLIP teacher's features (an evaluation
    split read ``with_teacher``: ``clip_zeroshot_clips`` /
    ``clip_zeroshot_queries``, see ``DualStudentRecognizer.predict``),
    CLIP's own zero-shot ranking (max over its frames of the cosine with
    the sentence embedding) is reported as one more row,
    ``prvr/clip_zeroshot/R@1``... ``prvr/clip_zeroshot/SumR``: never fused,
    never the selection metric; it shows how far the students are above
    their teacher.

    With ``dump_rankings``, ``compute_metrics`` (rank 0) also writes the
    top-``dump_topk`` videos of every query with scores and moment hints
    as JSON (:func:`prvr_mm.evaluation.rankings.write_rankings`, format in
    ``docs/rankings.md``).

    Args:
        fusion_weight (float | dict[str, float]): ``w`` of two branches,
            or a weight per branch name. Defaults to 0.7.
        extra_fusion_weights (Sequence[float]): other weights whose fused
            metrics are reported too (not used for model selection).
            Defaults to ``()``.
        branches (Sequence[str]): branch names predicted by the model.
            Defaults to ``('inher', 'explore')``.
        query_chunk (int): queries scored at once. Defaults to 1024.
        video_chunk (int): videos scored at once. Defaults to 1024.
        precision (str): precision of the query x clip products:
            ``'fp32'`` (default: the published numbers), ``'bf16'`` or
            ``'auto'`` (bf16 where the device runs it faster; scores
            rounded to bfloat16, so near ties can change ranks, see
            docs/speed.md); ranking is float32 always.
        device (str, optional): where to score; None = CUDA when available.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): defaults to ``'prvr'``.
        dump_rankings (str, optional): JSON file of the per-query rankings;
            None (default) writes nothing.
        dump_topk (int): videos per query in that file. Defaults to 100.
        moment_run_ratio (float): how far a moment hint extends around the
            best clip (:func:`~prvr_mm.evaluation.moments.best_runs`; 0 =
            the best clip alone). Defaults to 0.5.
    """

    default_prefix = 'prvr'

    def __init__(self,
                 fusion_weight: Union[float, Dict[str, float]] = 0.7,
                 extra_fusion_weights: Sequence[float] = (),
                 branches: Sequence[str] = ('inher', 'explore'),
                 query_chunk: int = 1024,
                 video_chunk: int = 1024,
                 precision: str = 'fp32',
                 device: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 dump_rankings: Optional[str] = None,
                 dump_topk: int = 100,
                 moment_run_ratio: float = DEFAULT_RUN_RATIO) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.branches = tuple(branches)
        # validated here, at build time
        self.fusion_weights = fusion_weights(self.branches, fusion_weight)
        self.fusion_weight = fusion_weight
        for w in extra_fusion_weights:
            if not 0.0 <= w <= 1.0:
                raise PRVRConfigError(
                    'every extra_fusion_weights value must be '
                    f'in [0, 1], got {tuple(extra_fusion_weights)}')
        self.extra_fusion_weights = tuple(
            float(w) for w in extra_fusion_weights)
        self.query_chunk = query_chunk
        self.video_chunk = video_chunk
        self.precision = precision
        self.device = device
        if dump_topk < 1:
            raise PRVRConfigError(f'dump_topk must be >= 1, got {dump_topk}')
        self.dump_rankings = dump_rankings
        self.dump_topk = dump_topk
        if not 0.0 <= moment_run_ratio <= 1.0:
            raise PRVRConfigError(f'moment_run_ratio must be in [0, 1], '
                                  f'got {moment_run_ratio}')
        self.moment_run_ratio = moment_run_ratio

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep one result per video: ids, per-branch embeddings and, when
        known, ``duration`` and ``timestamps`` (for moment hints)."""
        for sample in data_samples:
            result = dict(
                video_id=sample['video_id'],
                query_ids=list(sample['query_ids']))
            for key in ('duration', 'timestamps'):
                if sample.get(key) is not None:
                    result[key] = sample[key]
            for name in self.branches + (ZERO_SHOT, ):
                if name == ZERO_SHOT and f'{name}_clips' not in sample:
                    continue
                result[f'{name}_clips'] = sample[f'{name}_clips'].cpu()
                result[f'{name}_queries'] = sample[f'{name}_queries'].cpu()
            self.results.append(result)

    def score_matrices(self, results: List[dict]) -> Dict[str, torch.Tensor]:
        """(Q, V) score matrix of every branch, the fused one and, when
        every result has them, CLIP's zero-shot scores (``clip_zeroshot``,
        not fused).

        Queries are ordered video by video as in ``results``.
        """
        device = self.device or ('cuda'
                                 if torch.cuda.is_available() else 'cpu')
        scores = {}
        names = list(self.branches)
        if results and all(f'{ZERO_SHOT}_clips' in r for r in results):
            names.append(ZERO_SHOT)
        for name in names:
            clips = [r[f'{name}_clips'] for r in results]
            lengths = torch.tensor([len(c) for c in clips])
            mask = torch.arange(int(lengths.max()))[None] < lengths[:, None]
            queries = torch.cat([r[f'{name}_queries'] for r in results])
            scores[name] = max_over_clips(
                queries,
                pad_sequence(clips, batch_first=True),
                mask,
                query_chunk=self.query_chunk,
                video_chunk=self.video_chunk,
                precision=self.precision,
                device=device).float().cpu()
        if len(self.branches) > 1:  # the fusion of the model's branches only
            scores['fused'] = fuse(scores, self.fusion_weights)
        return scores

    @staticmethod
    def positives(results: List[dict]) -> torch.Tensor:
        """(Q, 1) video index of every query (video-by-video order)."""
        counts = torch.tensor([len(r['query_ids']) for r in results])
        return torch.repeat_interleave(torch.arange(len(results)),
                                       counts)[:, None]

    def moment_metrics(self, results: List[dict]) -> Dict[str, dict]:
        """Hit rate and mean IoU of the moment hints (see the class
        docstring); empty when a video lacks a duration or a query its
        timestamps."""
        if not results or not all(
                r.get('duration') is not None
                and r.get('timestamps') is not None for r in results):
            return {}
        weights = self.fusion_weights
        lengths = torch.tensor(
            [len(r[f'{self.branches[0]}_clips']) for r in results])
        offsets = torch.cat([lengths.new_zeros(1), torch.cumsum(lengths, 0)])
        return moment_metrics(
            queries={
                b: torch.cat([r[f'{b}_queries'] for r in results])
                for b in weights
            },
            clips={
                b: torch.cat([r[f'{b}_clips'] for r in results])
                for b in weights
            },
            offsets=offsets,
            gt_videos=self.positives(results)[:, 0],
            durations=torch.tensor([float(r['duration']) for r in results],
                                   dtype=torch.float64),
            timestamps=torch.tensor(
                [t for r in results for t in r['timestamps']],
                dtype=torch.float64),
            weights=weights,
            ratio=self.moment_run_ratio)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Metrics of the fused score (unprefixed) and of each branch."""
        scores = self.score_matrices(results)
        gt = self.positives(results)
        main = 'fused' if 'fused' in scores else self.branches[0]
        metrics = {}
        for name, matrix in scores.items():
            values = retrieval_metrics(matrix, gt)
            for key, value in values.items():
                metrics[key if name == main else f'{name}/{key}'] = value
        if main == 'fused':
            for w in self.extra_fusion_weights:
                values = retrieval_metrics(
                    fuse(scores, fusion_weights(self.branches, w)), gt)
                for key, value in values.items():
                    metrics[f'fused@{w:g}/{key}'] = value
        for name, values in self.moment_metrics(results).items():
            for key, value in values.items():
                key = f'moment/{key}'
                metrics[key if name == main else f'{name}/{key}'] = value
        if self.dump_rankings:
            write_rankings(
                self.dump_rankings,
                results,
                scores,
                self.fusion_weights,
                topk=self.dump_topk,
                query_chunk=self.query_chunk)
        return metrics

    @classmethod
    def from_config(cls,
                    cfg,
                    evaluator: str = 'test_evaluator') -> 'PRVRMetric':
        """The :class:`PRVRMetric` of a config's evaluator, built as the
        Runner builds it (its defaults when the config has none), so that
        tools outside the test loop fuse and cut moments exactly as the
        evaluation does.

        Args:
            cfg (Config): a loaded config.
            evaluator (str): ``'test_evaluator'`` (default) or
                ``'val_evaluator'``.

        Returns:
            PRVRMetric: the metric (never run; its settings are read).

        Raises:
            PRVRConfigError: the evaluator has no PRVRMetric.
        """
        spec = cfg.get(evaluator)
        if isinstance(spec, dict) and 'metrics' in spec:
            spec = spec['metrics']
        for metric in [spec] if isinstance(spec, dict) else spec or []:
            if str(metric.get('type')).split('.')[-1] == cls.__name__:
                args = {k: v for k, v in metric.items() if k != 'type'}
                return cls(**args)
        raise PRVRConfigError(
            f'{evaluator} of the config has no PRVRMetric, which owns the '
            f'fusion weights and the moment run ratio: got {spec!r}; add '
            f"{evaluator} = dict(type='PRVRMetric')")
