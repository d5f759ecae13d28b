"""Authors-style DL-DKD(++) training step: what the speed is measured against.

The same model and losses as ``DualStudentRecognizer``, written the way the
authors' DL-DKD code computes them (master branch, read on GitHub; no code
is copied here), so that ``benchmarks/train_step.py`` can time both in one
run on the same batch:

* every sequence is processed at its full padded length (input projection
  of the padded clips and tokens included);
* BERT-style attention written out: separate query/key/value products,
  ``(1 - mask) * -10000`` added to the scores, softmax, dropout, product;
* the cosine and the raw query x clip scores are two separate products
  (normalised and unnormalised einsum), masked with
  ``x * m + (1 - m) * -1e10``, then max-pooled, for each student branch and
  for the teacher;
* the triplet loss walks the videos in a Python loop (``np.where`` and
  ``torch.sort`` per video), InfoNCE builds its video -> query terms in a
  Python loop over a label dict, and the frame-level KL loops over queries.

The parameter names are the authors' state-dict keys, so their checkpoints
(and the golden fixture ``tests/data/dldkd_golden/state_dict.npz``) load as
they are; ``tests/test_benchmarks/test_reference_step.py`` checks that this
module reproduces the fixture's loss values.  Use: ``build(...)``, then
``model(batch)`` with the batch dict of :class:`PRVRDataPreprocessor`.
"""
import math
from typing import Dict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mask_logits(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x * mask + (1 - mask) * -1e10`` (the authors' masking)."""
    return x * mask + (1 - mask) * -1e10


class LinearLayer(nn.Module):
    """LayerNorm -> (Dropout, Linear) -> ReLU on the padded sequence."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(in_dim)
        self.net = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(in_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.net(self.LayerNorm(x)), inplace=True)


class PositionalEncoding(nn.Module):
    """``LayerNorm(x + E[position ids])``, ids repeated per sequence."""

    def __init__(self, max_len: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.position_embeddings = nn.Embedding(max_len, dim)
        self.LayerNorm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length = x.shape[:2]
        ids = torch.arange(length, device=x.device)[None].repeat(n, 1)
        return self.dropout(self.LayerNorm(x + self.position_embeddings(ids)))


class SelfAttention(nn.Module):
    """Multi-head attention with an additive ``-10000`` key mask."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length = x.shape[:2]
        return x.view(n, length, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = self._split(self.query(x))
        k = self._split(self.key(x))
        v = self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(
            self.head_dim)
        scores = scores + (1 - mask[:, None, None, :]) * -10000.
        probs = self.dropout(nn.Softmax(dim=-1)(scores))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(*x.shape)


class SelfOutput(nn.Module):
    """``LayerNorm(dropout(dense(ctx)) + x)``."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.LayerNorm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ctx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(ctx)) + x)


class Attention(nn.Module):
    """BERT attention block without feed-forward (``self`` + ``output``)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.self = SelfAttention(dim, heads, dropout)
        self.output = SelfOutput(dim, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class AuthorsStyleDLDKD(nn.Module):
    """Dual student + teacher scores + losses, computed the authors' way.

    Args:
        video_dim, query_dim (int): input feature dims.
        hidden (int): hidden size of both branches.
        max_ctx_l, max_desc_l (int): learned positions (clips, tokens).
        heads (int): attention heads.
        input_drop, drop (float): input / attention dropout.
        margin (float): triplet margin.
        hard_pool_size (int): t2v hard-negative pool.
        label_style (str): ``'hard'`` or ``'soft'``.
        alpha, beta (float): soft InfoNCE schedule values.
        kd_weight (float): dynamic KL factor (``model.weight``).
    """

    def __init__(self,
                 video_dim: int,
                 query_dim: int,
                 hidden: int = 384,
                 max_ctx_l: int = 128,
                 max_desc_l: int = 30,
                 heads: int = 4,
                 input_drop: float = 0.1,
                 drop: float = 0.1,
                 margin: float = 0.2,
                 hard_pool_size: int = 20,
                 label_style: str = 'soft',
                 alpha: float = 0.8,
                 beta: float = 0.8,
                 kd_weight: float = 1.0) -> None:
        super().__init__()
        for prefix in ('', 'exp_'):
            setattr(self, prefix + 'query_pos_embed',
                    PositionalEncoding(max_desc_l, hidden, input_drop))
            setattr(self, prefix + 'query_input_proj',
                    LinearLayer(query_dim, hidden, input_drop))
            setattr(self, prefix + 'query_encoder',
                    Attention(hidden, heads, drop))
            setattr(self, prefix + 'modular_vector_mapping',
                    nn.Linear(hidden, 1, bias=False))
            setattr(self, prefix + 'visual_pos_embed',
                    PositionalEncoding(max_ctx_l, hidden, input_drop))
            setattr(self, prefix + 'visual_input_proj',
                    LinearLayer(video_dim, hidden, input_drop))
            setattr(self, prefix + 'visual_encoder',
                    Attention(hidden, heads, drop))
            setattr(self, prefix + 'out_mapping_linear',
                    nn.Linear(hidden, hidden))
        self.margin, self.hard_pool_size = margin, hard_pool_size
        self.label_style, self.alpha, self.beta = label_style, alpha, beta
        self.kd_weight = kd_weight
        self.kl_weight, self.nce_weight, self.temperature = 0.1, 0.04, 0.2
        for m in self.modules():  # the authors' reset_parameters
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.data.normal_(mean=0.0, std=0.02)
            elif isinstance(m, nn.LayerNorm):
                m.bias.data.zero_()
                m.weight.data.fill_(1.0)
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.data.zero_()

    # ------------------------------------------------------------ encoders
    def _encode(self, feat, mask, proj, pos, encoder):
        return getattr(self, encoder)(getattr(self, pos)(getattr(self,
                                                                 proj)(feat)),
                                      mask)

    def _query(self, tokens, mask, prefix):
        h = self._encode(tokens, mask, prefix + 'query_input_proj',
                         prefix + 'query_pos_embed', prefix + 'query_encoder')
        logits = getattr(self, prefix + 'modular_vector_mapping')(h)
        att = F.softmax(mask_logits(logits, mask.unsqueeze(2)), dim=1)
        return torch.einsum('blm,bld->bmd', att, h).squeeze()

    def _video(self, clips, mask, prefix):
        h = self._encode(clips, mask, prefix + 'visual_input_proj',
                         prefix + 'visual_pos_embed',
                         prefix + 'visual_encoder')
        return getattr(self, prefix + 'out_mapping_linear')(h)

    # -------------------------------------------------------------- scores
    @staticmethod
    def _cos_scores(query, clips, mask):
        query = F.normalize(query, dim=-1)
        clips = F.normalize(clips, dim=-1)
        scores = torch.einsum('md,nld->mln', query, clips)
        scores = mask_logits(scores, mask.transpose(0, 1).unsqueeze(0))
        return scores.max(dim=1)[0], scores

    @staticmethod
    def _raw_scores(query, clips, mask):
        scores = torch.einsum('md,nld->mln', query, clips)
        scores = mask_logits(scores, mask.transpose(0, 1).unsqueeze(0))
        return scores.max(dim=1)[0]

    # -------------------------------------------------------------- losses
    def _triplet(self, scores, labels):
        v2t, t2v = scores.t(), scores
        labels_np = labels.cpu().numpy()
        v2t_loss = 0
        for i in range(v2t.shape[0]):  # one Python iteration per video
            pos = torch.mean(v2t[i][np.where(labels_np == i)])
            neg, _ = torch.sort(
                v2t[i][np.where(labels_np != i)[0]], descending=True)
            v2t_loss += (self.margin + neg[0] - pos).clamp(min=0).sum()
        rows = torch.arange(t2v.shape[0], device=t2v.device)
        pos_q = t2v[rows, labels]
        masked = t2v.data.clone()
        masked[rows, labels] = 999
        _, order = torch.sort(masked, descending=True, dim=1)
        pool = min(1 + self.hard_pool_size, t2v.shape[1])
        neg_idx = order[rows, torch.randint(1, pool, (t2v.shape[0], ))]
        t2v_loss = (self.margin + t2v[rows, neg_idx] - pos_q).clamp(min=0)
        return t2v_loss.sum() / len(t2v) + v2t_loss / len(v2t)

    def _nce_hard(self, labels, label_dict, scores):
        rows = torch.arange(scores.shape[0], device=scores.device)
        t2v_num = torch.logsumexp(scores[rows, labels].unsqueeze(1), dim=1)
        t2v_den = torch.logsumexp(scores, dim=1)
        v2t_num = torch.zeros(scores.shape[1]).to(scores)
        v2t_den = torch.zeros(scores.shape[1]).to(scores)
        for i, queries in label_dict.items():
            v2t_num[i] = torch.logsumexp(scores[queries, i], dim=0)
            v2t_den[i] = torch.logsumexp(scores[:, i], dim=0)
        return torch.mean(t2v_den - t2v_num) + torch.mean(v2t_den - v2t_num)

    def _nce_soft(self, label_dict, scores, sims):
        nq, nv = scores.shape
        hard_q, hard_v = math.floor(self.alpha * nq), math.floor(self.alpha *
                                                                 nv)
        eye = torch.zeros(nq, nv).to(scores.device)
        for i, queries in label_dict.items():
            eye[queries, i] = 1
        b = self.beta
        tq = eye.clone()
        tq[hard_q:] = torch.clamp(
            (1 - b) * torch.softmax(sims, dim=-1)[hard_q:] + b * tq[hard_q:],
            min=0)
        tv = eye.T.clone()
        tv[hard_v:] = torch.clamp(
            (1 - b) * torch.softmax(sims.T, dim=-1)[hard_v:] + b * tv[hard_v:],
            min=0)
        lse = torch.logsumexp(scores, dim=1, keepdim=True)
        t2v_hard = (tq[:hard_q] * lse[:hard_q]).sum() - (
            tq[:hard_q] * scores[:hard_q]).sum()
        t2v_soft = (tq[hard_q:] * lse[hard_q:]).sum() - (
            tq[hard_q:] * scores[hard_q:]).sum()
        v2t = {True: scores.new_zeros(1), False: scores.new_zeros(1)}
        for i in label_dict:  # one Python iteration per video
            term = torch.logsumexp(
                scores[:, i], dim=0) - torch.logsumexp(
                    torch.log(tv[i] + 1e-12) + scores[:, i], dim=0)
            v2t[i < hard_v] = v2t[i < hard_v] + term
        hard = soft = 0.
        if hard_q and hard_v:
            hard = t2v_hard / hard_q + v2t[True] / hard_v
        if nq - hard_q and nv - hard_v:
            soft = t2v_soft / (nq - hard_q) + v2t[False] / (nv - hard_v)
        return self.alpha * hard + (1 - self.alpha) * soft

    def _kl(self, student, teacher, mask, labels):
        loss = 0
        for i, label in enumerate(labels.tolist()):  # one per query
            length = torch.nonzero(mask[label] > 0).shape[0]
            p = F.log_softmax(
                student[i, :length, label] / self.temperature, dim=-1)
            q = F.softmax(
                teacher[i, :length, label] / self.temperature, dim=-1)
            loss += F.kl_div(p, q, reduction='sum')
        return loss

    def forward(self, batch: Dict[str,
                                  torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Loss terms of one batch (keys as ``DualStudentRecognizer``).

        Args:
            batch (dict): ``video`` (B, L, Dv), ``video_mask`` (B, L),
                ``query`` (Nq, Lq, Dq), ``query_mask`` (Nq, Lq),
                ``query_to_video`` (Nq,), ``teacher_video`` (B, L, Dt),
                ``teacher_query`` (Nq, Dt).

        Returns:
            dict[str, Tensor]: the five loss terms and ``loss`` (their sum).
        """
        labels, vmask = batch['query_to_video'], batch['video_mask']
        label_dict: Dict[int, list] = {}
        for index, label in enumerate(labels.tolist()):
            label_dict.setdefault(label, []).append(index)
        enc = {
            name:
            (self._query(batch['query'], batch['query_mask'],
                         prefix), self._video(batch['video'], vmask, prefix))
            for name, prefix in (('inher', ''), ('explore', 'exp_'))
        }
        t_query = batch['teacher_query'].squeeze()
        _, t_clip = self._cos_scores(t_query, batch['teacher_video'], vmask)
        t_raw = self._raw_scores(t_query, batch['teacher_video'], vmask)
        out = {}
        for name, (query, clips) in enc.items():
            cos, clip_cos = self._cos_scores(query, clips, vmask)
            raw = self._raw_scores(query, clips, vmask)
            out[f'loss_{name}_trip'] = self._triplet(cos, labels)
            if self.label_style == 'soft':
                sims = t_raw if name == 'inher' else raw
                out[f'loss_{name}_nce'] = self.nce_weight * self._nce_soft(
                    label_dict, raw, sims)
            else:
                out[f'loss_{name}_nce'] = self.nce_weight * self._nce_hard(
                    labels, label_dict, raw)
            if name == 'inher':
                out['loss_kd'] = self.kl_weight * self.kd_weight * self._kl(
                    clip_cos, t_clip, vmask, labels)
        out['loss'] = sum(out.values())
        return out
