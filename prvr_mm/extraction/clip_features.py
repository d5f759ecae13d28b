"""CLIP teacher files from videos and captions: one (T, D) image embedding
per video (one frame per student time step, at the centre of its segment)
and one (1, D) sentence embedding per caption.

Frames are decoded and preprocessed (the evaluation transform of
``open_clip.create_model_and_transforms``) in DataLoader workers, in chunks
of at most ``batch_size`` frames, while the main process runs the image
tower on batches packed across videos.  See
``tools/data/extract_clip_features.py`` for the command line.
"""
import os.path as osp
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..datasets.feature_spec import (check_spec, clip_spec_record,
                                     spec_file_attrs)
from ..datasets.feature_times import h5_time_attrs
from ..datasets.layout import (SPLITS, collection_paths, find_videos,
                               parse_caption_file, teacher_text_key)
from ..datasets.readers import build_feature_reader
from ..utils.dependencies import require_video_decoder
from ..utils.hardware import autocast_context, cast_frozen
from .common import (GracefulInterrupt, ShardedH5Output, SkipList,
                     auto_workers, barrier, check_key, dist_info,
                     init_distributed, plan_on_rank0, progress_bar,
                     resolve_device, round_robin, video_loader)
from .decoding import FrameChunks
from .teacher_check import check_written, run_checker

#: how to fix an output made with another CLIP (check_spec message)
FIX = ('pass the --model / --model-config / --pretrained / --quick-gelu of '
       'the run that wrote it to complete it, or write new files '
       '(--video-out / --text-out, or move the old ones away)')


def collection_captions(caption_files: Sequence[str]
                        ) -> 'OrderedDict[str, str]':
    """cap_id -> sentence over caption files (first occurrence wins)."""
    caps: 'OrderedDict[str, str]' = OrderedDict()
    for path in caption_files:
        for cap_id, sentence in parse_caption_file(path):
            caps.setdefault(cap_id, sentence)
    return caps


def student_steps(path: str, vids: Sequence[str]) -> Dict[str, int]:
    """Number of time steps (rows) of each video in student features (a
    BigFile folder or an h5 file keyed by video id)."""
    reader = build_feature_reader(path)
    try:
        if hasattr(reader, 'frames'):  # BigFile
            return {
                v: len(reader.frames[v])
                for v in vids if v in reader.frames
            }
        keys = set(reader.keys())
        return {v: int(reader.file[v].shape[0]) for v in vids if v in keys}
    finally:
        reader.close()


def resolve_student_path(path: str, base: str) -> str:
    """A student feature path relative to the collection folder ``base``
    (``FeatureData/i3d``), else as given (absolute or from the current
    folder)."""
    if not osp.isabs(path) and osp.exists(osp.join(base, path)):
        return osp.join(base, path)
    from ..datasets.readers import resolve_feature_path
    if not osp.isabs(path) and osp.exists(
            resolve_feature_path(osp.join(base, path))):
        return resolve_feature_path(osp.join(base, path))
    return path


def _default_captions(root: str, collection: str) -> List[str]:
    paths = collection_paths(root, collection, visual_feature='-')
    return [
        paths[f'caption_{s}'] for s in SPLITS
        if osp.isfile(paths[f'caption_{s}'])
    ]


def extract_clip_features(video_dir: str,
                          root: str,
                          collection: str,
                          student_features: Optional[str] = None,
                          fps: Optional[float] = None,
                          frame_fps: float = 3.0,
                          captions: Optional[Sequence[str]] = None,
                          clip_model: Optional[dict] = None,
                          batch_size: int = 32,
                          text_batch_size: int = 256,
                          workers: Optional[int] = None,
                          device: str = 'auto',
                          precision: str = 'auto',
                          video_out: Optional[str] = None,
                          text_out: Optional[str] = None,
                          skip_list: Optional[str] = None,
                          do_videos: bool = True,
                          do_text: bool = True,
                          progress: bool = True,
                          check: bool = True,
                          log: Callable[[str], None] = print) -> dict:
    """Write (or complete) the two CLIP teacher files of a collection.

    Args:
        video_dir (str): folder of videos (``<video_id>.mp4|mkv|webm|avi``)
            and/or frame folders (``<video_id>/*.jpg``).
        root (str): folder holding the collection folder.
        collection (str): collection name (file names).
        student_features (str, optional): BigFile folder or h5 of the
            student features (relative to ``root/collection`` or absolute):
            their row count per video is the number of CLIP frames.
        fps (float, optional): CLIP frames per second of video instead.
        frame_fps (float): frame rate of frame folders. Defaults to 3.
        captions (Sequence[str], optional): caption files; default: the
            collection's ``TextData/<c>{train,val,test}.caption.txt`` that
            exist.
        clip_model (dict, optional): the CLIP spec (``model_name``,
            ``pretrained`` tag or local file, ``quick_gelu``, ``model_cfg``,
            ...) of :func:`prvr_mm.models.teachers.open_clip_utils.
            build_clip`. Defaults to a ViT-B-32 with random weights.
        batch_size (int): frames per image-tower batch. Defaults to 32.
        text_batch_size (int): sentences per text-tower batch.
        workers (int, optional): DataLoader decoding workers (0 decodes in
            the main process); default: the process' share of the CPU cores
            (one left to the model without a GPU), at most 8.
        device (str): ``auto`` (CUDA when present), ``cpu``, ``cuda:0``...
        precision (str): ``auto`` (bf16 where faster: ``resolve_precision``),
            ``fp32`` or ``bf16`` (both towers); features are float32.
        video_out (str, optional): video output; default
            ``FeatureData/new_clip_vit_32_<c>_vid_features.hdf5``.
        text_out (str, optional): text output; default
            ``TextData/clip_ViT_B_32_<c>_query_feat.hdf5``.
        skip_list (str, optional): default ``<video_out>.skipped.txt``.
        do_videos (bool): extract the video file. Defaults to True.
        do_text (bool): extract the text file. Defaults to True.
        progress (bool): show a progress bar (rank 0).
        check (bool): run the dataset checker at the end (rank 0).
        log (callable): where messages go.

    Returns:
        dict: counts (``videos_encoded``, ``videos_done_before``,
        ``videos_skipped``, ``frames``, ``captions_encoded``,
        ``captions_done_before``), ``seconds``, ``videos_per_s``,
        ``frames_per_s``, ``interrupted``, ``check_ok``, ``precision``, paths.
    """
    if student_features is None and fps is None and do_videos:
        raise ValueError('pass student_features (BigFile/h5 whose row count '
                         'per video gives the frames) or fps')
    if fps is not None and fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    if do_videos:  # a missing decoder stops here, not video by video
        require_video_decoder(
            find_videos(video_dir).values(), 'extract_clip_features')
    device = resolve_device(device)
    init_distributed(device)
    rank, world, _ = dist_info()
    if workers is None:
        workers = auto_workers(device)
    base = osp.join(root, collection)
    paths = collection_paths(root, collection, visual_feature='-')
    video_out = video_out or paths['teacher_video']
    text_out = text_out or paths['teacher_text']
    skip_path = skip_list or osp.splitext(video_out)[0] + '.skipped.txt'
    captions = list(captions) if captions else _default_captions(
        root, collection)
    say = log if rank == 0 else (lambda *a: None)

    from ..models.teachers.open_clip_utils import build_clip
    model, preprocess, tokenizer, _ = build_clip(clip_model, device=device)
    # every file made with this CLIP records its spec (datasets/feature_spec)
    record = clip_spec_record(clip_model, model)
    precision = cast_frozen(model, precision, device)
    summary = dict(
        precision=precision,
        video_out=video_out,
        text_out=text_out,
        skip_list=skip_path,
        interrupted=False,
        check_ok=None)
    vout = ShardedH5Output(video_out, rank, world)
    tout = ShardedH5Output(text_out, rank, world)
    skips = SkipList(skip_path, rank, world)

    # rank 0 merges what an interrupted run left, lists the work, shares it

    for out in (vout, tout):
        out.file_attrs = spec_file_attrs(record)

    def make_plan() -> dict:
        vout.merge()
        tout.merge()
        # never complete a file made with another CLIP
        for out, what in ((vout, 'CLIP frame features'),
                          (tout, 'CLIP sentence features')):
            check_spec(out.path, record, f'{what} already written', FIX,
                       'this run uses')
        skips.clear_parts()
        return _plan(video_dir, base, captions, student_features, vout, tout,
                     do_videos, do_text)

    plan = plan_on_rank0(rank, make_plan)
    summary.update(plan['counts'])
    stale = plan['counts']['videos_stale']
    say(f"videos: {plan['counts']['videos_found']} found, "
        f"{plan['counts']['videos_done_before']} already in {video_out}" +
        (f' ({stale} more with another frame count than their student '
         'features: redone)' if stale else '') + ', '
        f"{len(plan['videos'])} to encode; captions: "
        f"{plan['counts']['captions_found']} found, "
        f"{plan['counts']['captions_done_before']} already in {text_out}, "
        f"{len(plan['captions'])} to encode; precision {precision}")

    with GracefulInterrupt() as stop, torch.inference_mode(), \
            autocast_context(precision, device):
        caps = round_robin(plan['captions'], rank, world)
        summary['captions_encoded'] = _encode_captions(caps, model, tokenizer,
                                                       tout, text_batch_size,
                                                       device, stop)
        videos = round_robin(
            plan['videos'],
            rank,
            world,
            weights=[s if s else 0 for _, _, s in plan['videos']])
        stats = _encode_videos(videos, model, preprocess, vout, skips,
                               batch_size, workers, device, fps, frame_fps,
                               progress and rank == 0, stop)
        summary.update(stats)
        summary['interrupted'] = stop.stop
    if stop.stop:
        say(f'interrupted: {vout.written} videos and {tout.written} '
            'captions were written by this process and are kept; run the '
            'same command again to resume')
        if world == 1:
            skips.merge()
        return summary
    barrier()
    if rank == 0:
        vout.merge()
        tout.merge()
        lines = skips.merge()
        summary['videos_skipped'] = len(lines)
        say(f"encoded {summary.get('videos_encoded', 0)} videos "
            f"({summary.get('frames', 0)} frames) in "
            f"{summary.get('seconds', 0):.1f} s: "
            f"{summary.get('videos_per_s', 0):.2f} videos/s, "
            f"{summary.get('frames_per_s', 0):.1f} frames/s (this process); "
            f"{summary['captions_encoded']} captions; "
            f"{len(lines)} videos skipped (list: {skip_path})")
        for line in lines[:10]:
            say(f'  skipped {line}')
        if check and captions and video_out == paths['teacher_video'] \
                and text_out == paths['teacher_text']:
            summary['check_ok'] = run_checker(root, collection,
                                              student_features, base, model,
                                              say, do_videos, do_text)
        elif check:  # the checker reads the collection's own files only
            summary['check_ok'] = check_written(video_dir, vout, lines,
                                                do_videos, say)
    return summary


def _plan(video_dir, base, captions, student_features, vout, tout, do_videos,
          do_text):
    """What to encode: (vid, path, steps) and (key, sentence) lists."""
    caps = collection_captions(captions) if captions else OrderedDict()
    done_t = tout.done_keys() if do_text else set()
    todo_caps = []
    if do_text:
        for cap_id, sentence in caps.items():
            key = check_key(teacher_text_key(cap_id), 'captions')
            if key not in done_t:
                todo_caps.append((key, sentence))
    videos = find_videos(video_dir) if do_videos else OrderedDict()
    done_v = vout.done_keys() if do_videos else set()
    steps = {}
    if student_features and do_videos:
        steps = student_steps(
            resolve_student_path(student_features, base), list(videos))
    # a video written with another number of frames than its student
    # features now have (re-extracted at another rate) is redone
    stale = {
        v
        for v, n in vout.rows(set(steps) & done_v).items() if n != steps[v]
    }
    todo_v = []
    for vid, path in videos.items():
        check_key(vid, video_dir)
        if vid not in done_v or vid in stale:
            todo_v.append((vid, path, steps.get(vid)))
    return dict(
        videos=todo_v,
        captions=todo_caps,
        counts=dict(
            videos_found=len(videos),
            videos_done_before=len((set(videos) & done_v) - stale),
            videos_stale=len(stale),
            captions_found=len(caps) if do_text else 0,
            captions_done_before=(len(caps) -
                                  len(todo_caps) if do_text else 0)))


def _encode_captions(caps, model, tokenizer, out, batch, device, stop):
    n = 0
    for start in range(0, len(caps), batch):
        if stop.stop:
            break
        chunk = caps[start:start + batch]
        ids = tokenizer([s for _, s in chunk]).to(device)
        emb = model.encode_text(ids).float().cpu().numpy()
        out.write({key: e[None] for (key, _), e in zip(chunk, emb)})
        n += len(chunk)
    return n


def _encode_videos(videos, model, preprocess, out, skips, batch_size, workers,
                   device, fps, frame_fps, progress, stop) -> dict:
    stats = dict(
        videos_encoded=0,
        frames=0,
        seconds=0.0,
        videos_per_s=0.0,
        frames_per_s=0.0,
        videos_skipped=0)
    if not videos:
        return stats
    ds = FrameChunks(videos, preprocess, batch_size, fps, frame_fps)
    loader = video_loader(ds, min(workers, len(videos)), device, 4)
    bar = progress_bar(len(videos), 'CLIP frames', 'video', progress)
    sources = {vid: path for vid, path, _ in videos}
    pending: Dict[str, dict] = {}
    buf: list = []
    t0 = time.perf_counter()

    def run_model():
        frames = torch.cat([it['frames'] for it in buf])
        emb = model.encode_image(frames.to(
            device, non_blocking=True)).float().cpu().numpy()
        pos = 0
        for it in buf:
            n = len(it['frames'])
            parts = pending.setdefault(it['vid'], {})
            parts[it['chunk']] = emb[pos:pos + n]
            pos += n
            if len(parts) == it['num_chunks']:
                feats = np.concatenate([parts[c] for c in range(len(parts))])
                out.write(
                    {it['vid']: feats},
                    {it['vid']: h5_time_attrs(it['duration'], it['times'])})
                del pending[it['vid']]
                stats['videos_encoded'] += 1
                stats['frames'] += len(feats)
                if bar is not None:
                    bar.update(1)
                    dt = time.perf_counter() - t0
                    bar.set_postfix(frames_s=f"{stats['frames'] / dt:.1f}")
        buf.clear()

    it = iter(loader)
    try:
        for item in it:
            if 'error' in item:
                pending.pop(item['vid'], None)
                skips.add(item['vid'], sources[item['vid']], item['error'])
                stats['videos_skipped'] += 1
                if bar is not None:
                    bar.update(1)
                    bar.write(f"skipped {item['vid']}: {item['error']}")
            else:
                buf.append(item)
                if sum(len(b['frames']) for b in buf) >= batch_size:
                    run_model()
            if stop.stop:
                break
        else:
            if buf:
                run_model()
    finally:
        del it  # shuts the workers down
        if bar is not None:
            bar.close()
    dt = time.perf_counter() - t0
    stats['seconds'] = dt
    stats['videos_per_s'] = stats['videos_encoded'] / dt if dt else 0.0
    stats['frames_per_s'] = stats['frames'] / dt if dt else 0.0
    return stats
