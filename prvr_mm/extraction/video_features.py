"""Student clip features from videos with any mmaction2 recognizer: one
feature per fixed-length clip (a stride apart), written as a BigFile or an
h5 file of the MS-SL layout.

A clip is ``clip_len`` frames ``frame_interval`` apart; clips start every
``stride`` frames and cover the whole video (the last one repeats the last
frame if needed; a video shorter than a clip gives one clip).  Frames are
the video's own, or resampled to ``sample_fps`` first (exact frames, see
:mod:`prvr_mm.datasets.video_io`).  Each clip goes through the recognizer's
test pipeline after its decoding and sampling steps (``Resize``,
``CenterCrop``/``ThreeCrop``, ``FormatShape``, ``PackActionInputs``), its
data preprocessor, and ``extract_feat`` up to the neck; the feature is the
output averaged over every dimension after the channels and over the views
of the clip (frames of a 2D model, crops), with the outputs of a
multi-pathway backbone (SlowFast) concatenated.
"""
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..datasets.feature_times import (h5_time_attrs, read_times,
                                      write_times_sidecar)
from ..datasets.layout import find_videos
from ..utils.dependencies import require_video_decoder
from .common import (GracefulInterrupt, ShardedH5Output, SkipList,
                     auto_workers, barrier, check_key, dist_info,
                     init_distributed, plan_on_rank0, progress_bar,
                     resolve_device, round_robin, video_loader)
from .decoding import ClipChunks

#: Pipeline steps replaced by this tool's own decoding and clip sampling.
_DROP_SUFFIXES = ('Init', 'Decode')


def test_pipeline_of(cfg, format_shape: str) -> List[dict]:
    """The recognizer's test pipeline without decoding / sampling steps, or
    a default one (short side 256, centre crop 224)."""
    pipeline = cfg.get('test_pipeline') or cfg.get('val_pipeline')
    if not pipeline:
        return [
            dict(type='Resize', scale=(-1, 256)),
            dict(type='CenterCrop', crop_size=224),
            dict(type='FormatShape', input_format=format_shape),
            dict(type='PackActionInputs')
        ]
    kept = []
    for step in pipeline:
        name = str(step['type']).split('.')[-1]
        if name.endswith(_DROP_SUFFIXES) or 'Sample' in name:
            continue
        kept.append(dict(step))
    return kept


def sampling_of(cfg) -> dict:
    """``clip_len`` / ``frame_interval`` of the config's test sampling step
    (``SampleFrames``), if any."""
    for step in cfg.get('test_pipeline') or []:
        if 'Sample' in str(step.get('type', '')):
            return {
                k: step[k]
                for k in ('clip_len', 'frame_interval') if k in step
            }
    return {}


def pool_features(feats, num: int) -> torch.Tensor:
    """Average a backbone/neck output to one (num, C) feature per clip.

    Args:
        feats (Tensor | tuple): (num * views, C, ...) or (num * views, C),
            or a tuple of those (pathways, concatenated after pooling).
        num (int): number of clips.
    """
    if isinstance(feats, (tuple, list)):
        return torch.cat([pool_features(f, num) for f in feats], dim=-1)
    x = feats.float()
    if x.dim() > 2:
        x = x.flatten(2).mean(-1)
    if x.shape[0] % num:
        raise ValueError(f'feature batch {tuple(feats.shape)} is not a '
                         f'multiple of the {num} clips')
    return x.view(num, x.shape[0] // num, -1).mean(1)


class ClipFeatureExtractor:
    """A recognizer in test mode that maps packed clips to (N, D)."""

    def __init__(self, model: torch.nn.Module, device: str) -> None:
        self.model = model.to(device).eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, inputs: Sequence[torch.Tensor],
                 data_samples: Sequence) -> torch.Tensor:
        data = self.model.data_preprocessor(
            dict(inputs=list(inputs), data_samples=list(data_samples)), False)
        stage = 'neck' if getattr(self.model, 'with_neck', False) else \
            'backbone'
        feats, _ = self.model.extract_feat(
            data['inputs'], stage=stage, test_mode=True)
        return pool_features(feats, len(inputs))


def build_recognizer(config: str, checkpoint: Optional[str], device: str):
    """Build an mmaction2 recognizer from its config (and weights)."""
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return cfg, model.to(device).eval()


def write_bigfile_from_h5(h5_path: str,
                          folder: str,
                          previous: Optional[str] = None) -> int:
    """Stream an h5 (video id -> (T, D)) into a BigFile folder with the
    layout writer, the videos of an earlier BigFile ``previous`` (absent
    from the h5) first; written in a temp folder renamed over ``folder``.
    The recorded times (h5 attributes, and ``previous``'s sidecar) go to
    the folder's ``times.json`` (:mod:`prvr_mm.datasets.feature_times`).

    Returns:
        int: number of videos in the BigFile.
    """
    import shutil

    import h5py

    from ..datasets.layout import write_bigfile
    from ..datasets.readers import BigFileReader
    tmp = folder.rstrip('/') + '.writing'
    shutil.rmtree(tmp, ignore_errors=True)
    with h5py.File(h5_path, 'r') as f:
        new = sorted(f.keys())

        def items():
            if previous and osp.isdir(previous):
                old = BigFileReader(previous)
                try:
                    for vid in old.keys():
                        if vid not in f:
                            yield vid, old.read(vid)
                finally:
                    old.close()
            for vid in new:
                yield vid, f[vid][()]

        count = write_bigfile(tmp, items())
        times = read_times(
            previous) if previous and osp.isdir(previous) else {}
        times = {v: t for v, t in times.items() if v not in f}
        times.update(read_times(h5_path))
        if times:
            write_times_sidecar(tmp, times)
    if osp.isdir(folder):
        shutil.rmtree(folder)
    os.rename(tmp, folder)
    return count


def extract_video_features(config: str,
                           video_dir: str,
                           out: str,
                           checkpoint: Optional[str] = None,
                           clip_len: Optional[int] = None,
                           frame_interval: Optional[int] = None,
                           stride: Optional[int] = None,
                           sample_fps: Optional[float] = None,
                           frame_fps: float = 3.0,
                           batch_size: int = 8,
                           workers: Optional[int] = None,
                           device: str = 'auto',
                           skip_list: Optional[str] = None,
                           progress: bool = True,
                           log: Callable[[str], None] = print) -> dict:
    """Write (or complete) clip features of every video of a folder.

    Args:
        config (str): mmaction2 recognizer config.
        video_dir (str): folder of videos and/or frame folders.
        out (str): a BigFile folder (``.../FeatureData/<name>``), or an h5
            file when it ends with ``.hdf5`` / ``.h5``.
        checkpoint (str, optional): recognizer weights; None keeps the
            initialisation (testing only).
        clip_len (int, optional): frames per clip; default the config's
            test ``SampleFrames`` value, else 16.
        frame_interval (int, optional): frame step inside a clip; default
            the config's value, else 1.
        stride (int, optional): frames between clip starts; default
            ``clip_len * frame_interval`` (back to back).
        sample_fps (float, optional): resample the video to this rate first.
        frame_fps (float): frame rate of frame folders.
        batch_size (int): clips per forward pass.
        workers (int, optional): decoding DataLoader workers per process;
            default: the process' share of the CPU cores (one left to the
            model without a GPU), at most 8.
        device (str): ``auto``, ``cpu``, ``cuda:0``, ...
        skip_list (str, optional): default ``<out>.skipped.txt``.
        progress (bool): progress bar on rank 0.
        log (callable): where messages go.

    Returns:
        dict: counts, throughput, ``dim``, ``interrupted`` and paths.
    """
    # a missing decoder stops here, not video by video
    require_video_decoder(
        find_videos(video_dir).values(), 'extract_video_features')
    device = resolve_device(device)
    init_distributed(device)
    rank, world, _ = dist_info()
    if workers is None:
        workers = auto_workers(device)
    say = log if rank == 0 else (lambda *a: None)
    from mmengine.dataset import Compose
    cfg, model = build_recognizer(config, checkpoint, device)
    sampling = sampling_of(cfg)
    clip_len = clip_len or sampling.get('clip_len', 16)
    frame_interval = frame_interval or sampling.get('frame_interval', 1)
    stride = stride or clip_len * frame_interval
    fmt = getattr(model.data_preprocessor, 'format_shape', 'NCTHW')
    pipeline = Compose(test_pipeline_of(cfg, fmt))
    as_h5 = out.endswith(('.hdf5', '.h5'))
    store = out if as_h5 else out.rstrip('/') + '.extract.hdf5'
    skip_path = skip_list or out.rstrip('/') + '.skipped.txt'
    h5out = ShardedH5Output(store, rank, world)
    skips = SkipList(skip_path, rank, world)
    summary = dict(
        out=out,
        skip_list=skip_path,
        interrupted=False,
        clip_len=clip_len,
        frame_interval=frame_interval,
        stride=stride,
        sample_fps=sample_fps)

    def make_plan() -> dict:
        h5out.merge()
        skips.clear_parts()
        videos = find_videos(video_dir)
        done = h5out.done_keys()
        if not as_h5 and osp.isdir(out):
            from ..datasets.readers import BigFileReader
            done |= set(BigFileReader(out).keys())
        todo = [(check_key(v, video_dir), p) for v, p in videos.items()
                if v not in done]
        return dict(todo=todo, found=len(videos), done=len(set(videos) & done))

    plan = plan_on_rank0(rank, make_plan)
    say(f"videos: {plan['found']} found, {plan['done']} already in {out}, "
        f"{len(plan['todo'])} to encode (clips of {clip_len} frames, "
        f'interval {frame_interval}, stride {stride}' +
        (f', at {sample_fps} fps)' if sample_fps else ')'))
    mine = round_robin(plan['todo'], rank, world)
    extractor = ClipFeatureExtractor(model, device)
    stats = dict(videos_encoded=0, clips=0, seconds=0.0, videos_skipped=0)
    with GracefulInterrupt() as stop:
        if mine:
            _run(
                mine,
                ClipChunks(mine, pipeline, batch_size, clip_len,
                           frame_interval, stride, sample_fps, frame_fps),
                extractor, h5out, skips, batch_size, workers, device, progress
                and rank == 0, stop, stats)
    summary.update(
        stats,
        videos_found=plan['found'],
        videos_done_before=plan['done'],
        interrupted=stop.stop)
    if stop.stop:
        say(f'interrupted: {h5out.written} videos were written by this '
            f'process to {h5out.shard_path} and are kept; run the same '
            'command again to resume')
        if world == 1:
            skips.merge()
        return summary
    barrier()
    if rank == 0:
        h5out.merge()
        lines = skips.merge()
        summary['videos_skipped'] = len(lines)
        if not as_h5 and osp.isfile(store):
            n = write_bigfile_from_h5(store, out, previous=out)
            os.remove(store)
            say(f'BigFile {out}: {n} videos')
        summary['dim'] = _dim_of(out)
        say(f"encoded {stats['videos_encoded']} videos ({stats['clips']} "
            f"clips) in {stats['seconds']:.1f} s; {len(lines)} skipped "
            f"(list: {skip_path}); feature dim {summary['dim']}")
        for line in lines[:10]:
            say(f'  skipped {line}')
    return summary


def _dim_of(out: str) -> Optional[int]:
    from ..datasets.readers import build_feature_reader
    try:
        reader = build_feature_reader(out)
    except Exception:  # noqa: BLE001 (nothing written yet)
        return None
    try:
        if hasattr(reader, 'feat_dim'):
            return reader.feat_dim
        keys = reader.keys()
        return int(reader.file[keys[0]].shape[-1]) if keys else None
    finally:
        reader.close()


def _run(videos, dataset, extractor, out, skips, batch_size, workers, device,
         progress, stop, stats) -> None:
    loader = video_loader(dataset, min(workers, len(videos)), device, 2)
    bar = progress_bar(len(videos), 'clip features', 'video', progress)
    sources = dict(videos)
    pending: Dict[str, dict] = {}
    t0 = time.perf_counter()
    it = iter(loader)
    try:
        for item in it:
            vid = item['vid']
            if 'error' in item:
                pending.pop(vid, None)
                skips.add(vid, sources[vid], item['error'])
                stats['videos_skipped'] += 1
                if bar is not None:
                    bar.update(1)
                    bar.write(f"skipped {vid}: {item['error']}")
            else:
                feats = extractor(item['inputs'], item['data_samples'])
                parts = pending.setdefault(vid, {})
                parts[item['chunk']] = feats.cpu().numpy()
                if len(parts) == item['num_chunks']:
                    arr = np.concatenate([parts[c] for c in range(len(parts))])
                    if not np.isfinite(arr).all():
                        skips.add(
                            vid, sources[vid], 'non-finite features '
                            '(NaN/inf) from the model')
                    else:
                        out.write({vid: arr}, {
                            vid:
                            h5_time_attrs(item['duration'], item['times'])
                        })
                        stats['videos_encoded'] += 1
                        stats['clips'] += len(arr)
                    del pending[vid]
                    if bar is not None:
                        bar.update(1)
            if stop.stop:
                break
    finally:
        del it
        if bar is not None:
            bar.close()
    stats['seconds'] = time.perf_counter() - t0
