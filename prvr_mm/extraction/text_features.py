"""Query token features of a collection's captions with a ``transformers``
encoder (RoBERTa): cap_id -> (L, D) float32, the real tokens only (special
tokens included), the file ``TextData/roberta_<c>_query_feat.hdf5`` that
:class:`PRVRFeatureDataset` reads."""
import json
import time
from typing import Callable, Optional, Sequence

import torch

from ..datasets.feature_spec import (SPEC_ATTR, check_spec, clip_spec_record,
                                     spec_file_attrs)
from ..datasets.readers import parse_caption_file
from ..utils.hardware import autocast_context, cast_frozen
from .common import (GracefulInterrupt, ShardedH5Output, barrier, check_key,
                     dist_info, init_distributed, plan_on_rank0, progress_bar,
                     resolve_device, round_robin)


def extract_text_features(captions: Sequence[str],
                          out: str,
                          model: str = 'roberta-base',
                          config: Optional[dict] = None,
                          max_len: int = 64,
                          layer: int = -1,
                          batch_size: int = 64,
                          device: str = 'auto',
                          precision: str = 'auto',
                          local_files_only: bool = False,
                          encoder: str = 'hf',
                          pretrained: Optional[str] = None,
                          quick_gelu: Optional[bool] = None,
                          progress: bool = True,
                          log: Callable[[str], None] = print) -> dict:
    """Write (or complete) per-token features of every caption.

    Args:
        captions (Sequence[str]): caption files (``<cap_id> <sentence>``).
        out (str): the h5 output.
        model (str): hub name or local folder (``save_pretrained``) of the
            tokenizer and model; see
            :class:`prvr_mm.models.text_encoders.HFTextEncoder`.
        config (dict, optional): a random model from this config instead.
        max_len (int): tokens kept per caption (special tokens included).
        layer (int): hidden state (-1 last, -2 the one before, ...).
        batch_size (int): captions per forward pass.
        device (str): ``auto``, ``cpu``, ``cuda:0``, ...
        precision (str): ``auto`` (bf16 where this device runs it faster,
            :func:`prvr_mm.utils.hardware.resolve_precision`), ``fp32`` or
            ``bf16``; the features are written as float32.
        local_files_only (bool): never contact the model hub.
        encoder (str): ``'hf'`` (a ``transformers`` model, default) or
            ``'open_clip'`` (the text tower of the open_clip architecture
            ``model``, e.g. ``'ViT-B-32'``, with ``pretrained`` weights and
            ``config`` as its architecture dict; see
            :class:`prvr_mm.models.text_encoders.OpenCLIPTextEncoder`).
        pretrained (str, optional): open_clip weights tag or local file
            (``encoder='open_clip'`` only).
        quick_gelu (bool, optional): open_clip activation (see
            :func:`~prvr_mm.models.teachers.open_clip_utils.build_clip`).
            The open_clip spec is recorded in the file
            (:mod:`prvr_mm.datasets.feature_spec`).
        progress (bool): progress bar on rank 0.
        log (callable): where messages go.

    Returns:
        dict: ``captions_found``, ``captions_done_before``,
        ``captions_encoded``, ``dim``, ``seconds``, ``interrupted``,
        ``precision`` (resolved).
    """
    from ..models.text_encoders import HFTextEncoder, OpenCLIPTextEncoder
    if encoder not in ('hf', 'open_clip'):
        raise ValueError(
            f"encoder must be 'hf' or 'open_clip', got {encoder!r}")
    if encoder == 'hf':
        from ..utils.dependencies import require
        require('transformers', 'extract_text_features (encoder hf)')
    device = resolve_device(device)
    init_distributed(device)
    rank, world, _ = dist_info()
    say = log if rank == 0 else (lambda *a: None)
    h5out = ShardedH5Output(out, rank, world)

    def make_plan() -> dict:
        h5out.merge()
        if h5out.file_attrs:  # never complete a file of another CLIP
            check_spec(
                out, json.loads(h5out.file_attrs[SPEC_ATTR]),
                'query token features already written',
                'pass the --model / --model-config / --pretrained / '
                '--quick-gelu of the run that wrote it, or write a new '
                'file (--out)', 'this run uses')
        caps = {}
        for path in captions:
            for cap_id, sentence in parse_caption_file(path):
                caps.setdefault(check_key(cap_id, path), sentence)
        done = h5out.done_keys()
        return dict(
            todo=[(c, s) for c, s in caps.items() if c not in done],
            found=len(caps),
            done=len(set(caps) & done))

    if encoder == 'open_clip':
        if layer != -1:
            raise ValueError('encoder=open_clip gives the final layer only '
                             f'(layer=-1), got layer={layer}')
        spec = dict(
            model_name=model, pretrained=pretrained, quick_gelu=quick_gelu)
        if config is not None:
            spec['model_cfg'] = config
        h5out.file_attrs = spec_file_attrs(_clip_record(spec))
    plan = plan_on_rank0(rank, make_plan)
    say(f"captions: {plan['found']} found, {plan['done']} already in {out}, "
        f"{len(plan['todo'])} to encode")
    if encoder == 'open_clip':
        encoder = OpenCLIPTextEncoder(
            model_name=model,
            pretrained=pretrained,
            model_cfg=config,
            quick_gelu=quick_gelu,
            max_len=max_len)
    else:
        encoder = HFTextEncoder(
            model,
            config=config,
            max_len=max_len,
            layer=layer,
            local_files_only=local_files_only)
    encoder.to(device)
    precision = cast_frozen(encoder, precision, device)
    # longest first: less padding per batch
    mine = round_robin(
        plan['todo'], rank, world, weights=[len(s) for _, s in plan['todo']])
    summary = dict(
        out=out,
        captions_found=plan['found'],
        captions_done_before=plan['done'],
        captions_encoded=0,
        dim=encoder.dim,
        precision=precision,
        interrupted=False)
    bar = progress_bar(
        len(mine), 'query tokens', 'caption', progress and rank == 0
        and bool(mine))
    t0 = time.perf_counter()
    with GracefulInterrupt() as stop, torch.inference_mode(), \
            autocast_context(precision, device):
        try:
            for start in range(0, len(mine), batch_size):
                chunk = mine[start:start + batch_size]
                feats, mask = encoder.encode([s for _, s in chunk])
                feats, lengths = feats.cpu().numpy(), mask.sum(1).tolist()
                h5out.write({
                    cap_id: f[:n]
                    for (cap_id, _), f, n in zip(chunk, feats, lengths)
                })
                summary['captions_encoded'] += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                if stop.stop:
                    break
        finally:
            if bar is not None:
                bar.close()
    summary['seconds'] = time.perf_counter() - t0
    summary['interrupted'] = stop.stop
    if stop.stop:
        say(f'interrupted: {h5out.written} captions were written by this '
            f'process to {h5out.shard_path} and are kept; run the same '
            'command again to resume')
        return summary
    barrier()
    if rank == 0:
        h5out.merge()
        say(f"encoded {summary['captions_encoded']} captions in "
            f"{summary['seconds']:.1f} s: ({encoder.dim}-d tokens, precision "
            f'{precision}) -> {out}')
    return summary


def _clip_record(spec: dict) -> dict:
    """The spec record of an open_clip text encoder, with the weights hash
    of the whole CLIP (built once more, then dropped)."""
    from ..models.teachers.open_clip_utils import build_clip
    return clip_spec_record(spec, build_clip(spec).model)
