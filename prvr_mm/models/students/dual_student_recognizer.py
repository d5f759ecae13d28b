"""DL-DKD dual student: inheritance + exploration branches, distilled from
a CLIP teacher, trained with ranking, InfoNCE and frame-level KL losses."""
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from ...errors import PRVRConfigError
from ..data_preprocessors import build_data_preprocessor
from ..losses.precision import at_least_fp32
from ..similarity import clip_scores
from .global_batch import GlobalBatch

ForwardResults = Union[Dict[str, torch.Tensor], List[BaseDataElement]]

#: The one mapping between the two names of each branch: short name -> the
#: recognizer attribute that holds it. The short name is in every loss key
#: (``loss_inher_trip``), metric (``prvr/inher/SumR``), prediction field
#: (``inher_clips``) and search index; the attribute is the ``state_dict``
#: prefix (``inheritance.query_proj.linear.weight``). Both sides are
#: user-facing (logs, metric names, checkpoints) and must not change: code
#: that needs one from the other reads this constant.
BRANCH_ATTRS = OrderedDict(inher='inheritance', explore='exploration')
#: short names of the two branches (keys of :data:`BRANCH_ATTRS`)
INHERITANCE, EXPLORATION = BRANCH_ATTRS
#: name of the teacher's zero-shot ranking in predictions and metrics
#: (``clip_zeroshot_clips``, ``prvr/clip_zeroshot/SumR``)
ZERO_SHOT = 'clip_zeroshot'


@MODELS.register_module()
class DualStudentRecognizer(BaseModel):
    """The DL-DKD / DL-DKD++ student with its teacher and losses.

    Loss (``mode='loss'``):
    ``trip(S_inh) + nce(U_inh) + kd_weight * kl(inh || teacher)
    + trip(S_exp) + nce(U_exp)`` where ``S`` are cosine and ``U`` raw
    max-over-clips scores, and ``kl`` already includes the KL loss weight
    (``loss_distill.loss_weight``).  With ``label_style='soft'`` (DL-DKD++)
    the InfoNCE soft targets come from the teacher's ``U`` (inheritance) and
    the exploration branch's own ``U`` (exploration), mixed by
    ``alpha``/``beta``.

    The schedule values ``kd_weight`` (the dynamic factor of the KL term),
    ``alpha`` and ``beta`` are owned by :class:`DynamicKDHook`, which sets
    them before every epoch through :meth:`set_schedule`; they start at the
    neutral ``1.0`` (full distillation, every InfoNCE row hard, one-hot
    targets), so a model built alone (tests, scripts) trains as plain
    DL-DKD until :meth:`set_schedule` says otherwise.  The fusion weight of
    inference belongs to the evaluator (``PRVRMetric(fusion_weight=...)``).

    Args:
        inheritance (dict, optional): config of the inheritance
            :class:`PRVRBranch`; ``None`` builds none (the exploration-only
            ablation: the model is then the exploration branch alone,
            trained on the PRVR data only, and needs no teacher).
        exploration (dict, optional): config of the exploration branch;
            ``None`` copies ``inheritance``. Defaults to None.
        teacher (dict, optional): teacher head config. Defaults to
            ``dict(type='CLIPTeacherHead')``.
        loss_triplet (dict): ranking loss config.
        loss_nce (dict): InfoNCE config of the inheritance branch.
        loss_nce_explore (dict, optional): InfoNCE config of the exploration
            branch; ``None`` reuses ``loss_nce``.
        loss_distill (dict): frame-level KL config.
        label_style (str): ``'hard'`` (DL-DKD) or ``'soft'`` (DL-DKD++).
        share_query_proj (bool): ICCV variant, the exploration branch reuses
            the inheritance query input projection. Defaults to False.
        double_branch (bool): build the exploration branch (False: the
            inheritance-only ablation). Defaults to True.
        frontend (dict, optional): a front end that turns raw clips into
            clip features before the branches, e.g.
            ``dict(type='VideoBackboneFrontend', backbone=dict(
            type='mmaction.X3D', ...))``; its ``out_channels`` is the
            branches' ``video_dim`` (leave ``video_dim`` out of the branch
            configs). Defaults to None (precomputed clip features).
        gather_negatives (bool): under data parallelism, compute the losses
            on the global batch (all ranks' queries and videos, see
            :mod:`.global_batch`), so N processes with B videos each train
            like one process with N x B videos; the data preprocessor's
            local sort is then switched off and the recognizer orders the
            global batch instead. ``False`` (default): each rank's losses
            see only its own batch, like the authors' single-GPU code.
        compile_branches (bool | dict, optional): ``torch.compile`` each
            branch's query and video encoders (``True``, or a dict of
            ``torch.compile`` keyword arguments, e.g. ``dict(dynamic=True)``);
            the losses, teacher and optimizer step stay eager. Opt-in:
            the first iterations (and every new padded shape unless
            ``dynamic=True``) pay for compilation. Defaults to None (eager).
        data_preprocessor (dict, optional): defaults to
            ``dict(type='PRVRDataPreprocessor')``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 inheritance: Optional[dict],
                 exploration: Optional[dict] = None,
                 teacher: Optional[dict] = dict(type='CLIPTeacherHead'),
                 loss_triplet: dict = dict(
                     type='TripletRankingLoss', margin=0.2, hard_pool_size=20),
                 loss_nce: dict = dict(type='InfoNCELoss', loss_weight=0.04),
                 loss_nce_explore: Optional[dict] = None,
                 loss_distill: dict = dict(
                     type='FrameKLDistillLoss',
                     temperature=0.2,
                     loss_weight=0.1),
                 label_style: str = 'hard',
                 share_query_proj: bool = False,
                 double_branch: bool = True,
                 frontend: Optional[dict] = None,
                 gather_negatives: bool = False,
                 compile_branches: Optional[Union[bool, dict]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=build_data_preprocessor(data_preprocessor),
            init_cfg=init_cfg)
        if label_style not in ('hard', 'soft'):
            raise PRVRConfigError(
                f"label_style must be 'hard' or 'soft', got {label_style!r}")
        if inheritance is None and not (double_branch and exploration):
            raise PRVRConfigError(
                'inheritance=None (exploration only) needs an exploration '
                'branch config and double_branch=True')
        if inheritance is None and share_query_proj:
            raise PRVRConfigError(
                'share_query_proj needs the inheritance branch')
        self.frontend = MODELS.build(frontend) if frontend else None
        if self.frontend is not None:
            inheritance = inheritance and self._frontend_dim(inheritance)
            exploration = exploration and self._frontend_dim(exploration)
        self.inheritance = None
        if inheritance is not None:
            self.inheritance = MODELS.build(inheritance)
        self.exploration = None
        if double_branch:
            self.exploration = MODELS.build(
                copy.deepcopy(exploration or inheritance))
            if share_query_proj:
                self.exploration.query_proj = self.inheritance.query_proj
        self.teacher = MODELS.build(teacher) if teacher else None
        self.loss_triplet = MODELS.build(loss_triplet)
        self.loss_nce = MODELS.build(loss_nce)
        self.loss_nce_explore = MODELS.build(
            loss_nce_explore) if loss_nce_explore else self.loss_nce
        self.loss_distill = MODELS.build(loss_distill)
        self.label_style = label_style
        self.kd_weight = 1.0
        self.alpha = 1.0
        self.beta = 1.0
        self.gather_negatives = gather_negatives
        if gather_negatives and getattr(self.data_preprocessor,
                                        'sort_by_queries', False):
            # the global batch is sorted after gathering (GlobalBatch)
            self.data_preprocessor.sort_by_queries = False
        if compile_branches is True:
            compile_branches = dict()
        self.compile_branches = compile_branches or None
        self._compiled = {}

    def set_schedule(self,
                     kd_weight: Optional[float] = None,
                     alpha: Optional[float] = None,
                     beta: Optional[float] = None) -> None:
        """Set the per-epoch schedule values (what :class:`DynamicKDHook`
        calls); a value left None is kept.

        Args:
            kd_weight (float, optional): factor of the KL distillation term,
                ``>= 0`` (0 turns distillation off).
            alpha (float, optional): fraction of InfoNCE rows with hard
                targets (soft targets only), in ``[0, 1]``.
            beta (float, optional): weight of the one-hot target in the soft
                rows (soft targets only), in ``[0, 1]``.

        Raises:
            PRVRConfigError: a value out of its range.
        """
        if kd_weight is not None:
            if not kd_weight >= 0:
                raise PRVRConfigError(
                    f'kd_weight must be >= 0, got {kd_weight}')
            self.kd_weight = float(kd_weight)
        for name, value in (('alpha', alpha), ('beta', beta)):
            if value is None:
                continue
            if not 0.0 <= value <= 1.0:
                raise PRVRConfigError(f'{name} must be in [0, 1], got {value}')
            setattr(self, name, float(value))

    def _frontend_dim(self, branch: dict) -> dict:
        """The branch config with the frontend's output as ``video_dim``."""
        dim = self.frontend.out_channels
        if branch.get('video_dim', dim) != dim:
            raise PRVRConfigError(
                f"branch video_dim={branch['video_dim']} but the frontend "
                f'gives {dim}-d clip features; leave video_dim out')
        return dict(branch, video_dim=dim)

    def _encoder(self, branch: torch.nn.Module, method: str):
        """``branch.<method>``, compiled when ``compile_branches`` asks."""
        fn = getattr(branch, method)
        if self.compile_branches is None:
            return fn
        key = (id(branch), method)  # a deep copy compiles its own
        if key not in self._compiled:
            self._compiled[key] = torch.compile(fn, **self.compile_branches)
        return self._compiled[key]

    @property
    def branches(self) -> Dict[str, torch.nn.Module]:
        """The built branches by short name (:data:`BRANCH_ATTRS`: ``inher``
        -> ``self.inheritance``, ``explore`` -> ``self.exploration``)."""
        out = {}
        for name, attr in BRANCH_ATTRS.items():
            branch = getattr(self, attr)
            if branch is not None:
                out[name] = branch
        return out

    def encode(self,
               inputs: Dict[str, torch.Tensor],
               exact_padding: bool = True) -> Dict[str, dict]:
        """Encode queries and videos with every branch.

        Videos are encoded first (every branch), then queries, in the
        authors' module order, so that in training the dropout masks are
        drawn in the same sequence as theirs (same seed, same masks).

        Args:
            inputs (dict): batch from :class:`PRVRDataPreprocessor`.
            exact_padding (bool): compute padded clip positions too (see
                :meth:`PRVRBranch.encode_video`); the losses do not need
                them. Defaults to True.

        Returns:
            dict: per branch name, ``query`` (Nq, H) and ``clips`` (B, L, H).
        """
        video = inputs['video']
        if self.frontend is not None:
            video = self.frontend(video, inputs['video_mask'])
        elif video.dim() != 3:
            raise PRVRConfigError(
                f'video of shape {tuple(video.shape)} looks like raw clips; '
                'expected (B, L, Dv) clip features, or set model.frontend')
        # the authors' order: every branch's clips, then every branch's
        # queries (dropout draws from one RNG stream in this order)
        out = {
            name:
            dict(
                clips=self._encoder(branch, 'encode_video')(
                    video, inputs['video_mask'], exact_padding))
            for name, branch in self.branches.items()
        }
        for name, branch in self.branches.items():
            out[name]['query'] = self._encoder(branch, 'encode_query')(
                inputs['query'], inputs['query_mask'])
        return out

    def forward(self,
                inputs: Dict[str, torch.Tensor],
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> ForwardResults:
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`encode`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.encode(inputs)
        raise RuntimeError(f'Invalid mode "{mode}": expected loss, predict '
                           'or tensor')

    def _needs_teacher(self) -> bool:
        return self.inheritance is not None and (self.kd_weight != 0
                                                 or self.label_style == 'soft')

    def loss(
        self,
        inputs: Dict[str, torch.Tensor],
        data_samples: Optional[List[BaseDataElement]] = None
    ) -> Dict[str, torch.Tensor]:
        """All loss terms of one batch (keys containing ``loss`` are summed
        by MMEngine; ``kd_weight``/``alpha``/``beta`` are only logged).

        Args:
            inputs (dict): batch from :class:`PRVRDataPreprocessor`.
            data_samples (list, optional): unused.

        Returns:
            dict[str, Tensor]: ``loss_inher_trip``, ``loss_inher_nce``,
            ``loss_kd`` (already times ``kd_weight``), ``loss_explore_trip``,
            ``loss_explore_nce`` (those of the built branches), and the
            logged schedule values.
        """
        enc = self.encode(inputs, exact_padding=False)
        batch = GlobalBatch(inputs['video_mask'], inputs['query_to_video'],
                            self.gather_negatives)
        labels, mask = batch.labels, batch.mask
        teacher = None
        if self._needs_teacher():
            t_feats = None if self.teacher is None else \
                self.teacher.teacher_features(inputs)
            if t_feats is None:
                raise PRVRConfigError(
                    'kd_weight != 0 or label_style=soft needs a teacher and '
                    'teacher inputs (teacher_video/teacher_query features, '
                    'or teacher_frames/teacher_text for an online teacher)')
            teacher = self.teacher(
                batch.videos(t_feats[0]), t_feats[1], mask, batch.row_labels)

        losses = {}
        for name, feats in enc.items():
            distill = name == INHERITANCE and teacher is not None and \
                self.kd_weight != 0
            cos, raw, _, pos_cos = clip_scores(  # one product per branch
                feats['query'],
                batch.videos(feats['clips']),
                mask,
                query_to_video=batch.row_labels if distill else None)
            cos, raw = batch.scores(cos), batch.scores(raw)
            losses[f'loss_{name}_trip'] = self.loss_triplet(cos, labels)
            nce = self.loss_nce if name == INHERITANCE else \
                self.loss_nce_explore
            if self.label_style == 'soft':
                source = batch.scores(teacher['max_scores_unnorm']) \
                    if name == INHERITANCE else raw
                losses[f'loss_{name}_nce'] = nce(raw, labels, source,
                                                 self.alpha, self.beta)
            else:
                losses[f'loss_{name}_nce'] = nce(raw, labels)
            if name == INHERITANCE:
                kd = raw.new_zeros(())
                if distill:
                    kd = batch.sum(
                        self.loss_distill(pos_cos, teacher['pos_clip_scores'],
                                          mask, batch.row_labels))
                losses['loss_kd'] = self.kd_weight * kd
        weights = {}
        if self.inheritance is not None:
            weights['kd_weight'] = self.kd_weight
        if self.label_style == 'soft':
            weights.update(alpha=self.alpha, beta=self.beta)
        for key, value in weights.items():
            losses[key] = torch.tensor(value, device=mask.device)
        return losses

    @torch.no_grad()
    def predict(self, inputs: Dict[str, torch.Tensor],
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Attach per-video clip embeddings and per-query embeddings.

        Each returned sample (one video) gets, per branch ``b``,
        ``{b}_clips`` (T_i, H) (valid clips only) and ``{b}_queries``
        (n_i, H) for the queries of that video, in the sample's
        ``query_ids`` order. When the batch carries the teacher's CLIP
        features (an evaluation split read ``with_teacher``), they pass
        through as ``clip_zeroshot_clips`` (Tt_i, Dt) and
        ``clip_zeroshot_queries`` (n_i, Dt): CLIP's own zero-shot ranking,
        which ``PRVRMetric`` reports beside the students' (never fused).
        """
        enc = self.encode(inputs, exact_padding=False)  # valid clips kept
        lengths = inputs['video_mask'].sum(1).long().tolist()
        labels = inputs['query_to_video']
        counts = torch.bincount(labels, minlength=len(lengths)).tolist()
        if 'teacher_video' in inputs and 'teacher_query' in inputs:
            enc[ZERO_SHOT] = dict(
                clips=inputs['teacher_video'], query=inputs['teacher_query'])
            t_lengths = inputs.get('teacher_video_mask', inputs['video_mask'])
            t_lengths = t_lengths.sum(1).long().tolist()
        for name, feats in enc.items():
            n_clips = t_lengths if name == ZERO_SHOT else lengths
            # at least float32 embeddings for the metric (autocast)
            clips = at_least_fp32(feats['clips'])
            queries = at_least_fp32(feats['query'])[labels.argsort(
                stable=True)]
            per_video = torch.split(queries, counts)
            for i, sample in enumerate(data_samples):
                sample.set_field(clips[i, :n_clips[i]], f'{name}_clips')
                sample.set_field(per_video[i], f'{name}_queries')
        return data_samples
