"""Teacher extraction throughput vs the image tower alone, in one run,
in each precision (``--precisions fp32,bf16``).

Builds a randomly initialised open_clip ViT-B/32 (the real architecture;
weights do not change the speed), then

1. times the image tower alone on random (B, 3, 224, 224) batches;
2. runs :func:`prvr_mm.extraction.clip_features.extract_clip_features`
   with the same architecture (built by the tool) on a generated
   collection of realistic videos:
   ``mp4``: 640x360, 30 fps, 60 s H.264 files (x264 default GOP, B-frames),
   or ``frames``: the same videos as 3-fps JPEG folders (TVR's format);
   one CLIP frame per 1.5 s of video (``--fps 0.6667``, TVR's student
   rate), decoding in DataLoader workers.

Each precision times the tower with the same rule as the tool
(:func:`~prvr_mm.utils.hardware.cast_frozen` + ``autocast_context``) and
runs the tool with ``precision=...``; its line ends with
``benchmarks.roofline.host_fields(precision)`` (the host's matrix-unit
flags), and a last ``extract_clip_precision`` line gives the bf16 / fp32
speed of the tower and the tool.

Usage (checkout root)::

    python -m benchmarks.extract_clip [--input mp4|frames] [--videos 6]
        [--batch-size 32] [--workers 1] [--tower-frames 192] [--threads N]
        [--precisions fp32,bf16] [--work-dir work_dirs/bench_extract]

Each precision prints ``extract_clip <model> <device> input=<mp4|frames>:
tower_fps=<frames/s> tool_fps=<frames/s> tool_videos_s=<videos/s>
ratio=<tool_fps / tower_fps> tower_cpu_ms=<CPU ms per frame>
tool_cpu_ms=<CPU ms per frame, decoding workers included>
cpu_ratio=<tower_cpu_ms / tool_cpu_ms> videos=<n> frames=<n> threads=<n>
load=<1-min load average>``.  ``ratio`` is the target (>= 0.9); on a
machine busy with other work ``cpu_ratio`` (CPU time, which other load
does not inflate) tells what a quiet CPU-bound machine would give.
"""
import argparse
import os
import os.path as osp
import resource
import shutil
import time

import torch

from benchmarks.long_video import make_long_video
from benchmarks.roofline import host_fields
from prvr_mm.datasets import toy_videos, video_io
from prvr_mm.extraction import clip_features
from prvr_mm.models.teachers.open_clip_utils import build_clip
from prvr_mm.utils.hardware import autocast_context, cast_frozen


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the
    DataLoader workers), all threads."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def tower_fps(model,
              batch: int,
              frames: int,
              size: int,
              device: str,
              warmup: int = 1,
              precision: str = 'fp32'):
    """Frames/s and CPU ms per frame of the image tower alone (``model``
    already cast by :func:`cast_frozen` for ``precision``)."""
    x = torch.randn(batch, 3, size, size, device=device)
    with torch.inference_mode(), autocast_context(precision, device):
        for _ in range(warmup):
            model.encode_image(x)
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        n, t0, c0 = 0, time.perf_counter(), cpu_seconds()
        while n < frames:
            model.encode_image(x)
            n += batch
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        return n / wall, cpu / n * 1000


def prepare(work: str, kind: str, videos: int) -> str:
    """Collection folder with ``videos`` copies of one realistic video."""
    src = osp.join(work, 'real_640x360_30fps_60s.mp4')
    if not osp.isfile(src):
        make_long_video(src + '.tmp.mp4')
        os.rename(src + '.tmp.mp4', src)
    folder = osp.join(work, f'videos_{kind}')
    if kind == 'frames' and not osp.isdir(osp.join(work, 'frames_master')):
        with video_io.open_video(src) as r:
            idx = r.indices_at(
                [i / 3.0 for i in range(int(r.info.duration * 3))])
            toy_videos.write_frame_folder(
                osp.join(work, 'frames_master'), list(r.get_frames(idx)))
    os.makedirs(folder, exist_ok=True)
    for i in range(videos):
        name = osp.join(folder, f'bench{i:03d}')
        if kind == 'mp4' and not osp.exists(name + '.mp4'):
            os.link(src, name + '.mp4')
        elif kind == 'frames' and not osp.exists(name):
            shutil.copytree(
                osp.join(work, 'frames_master'), name, copy_function=os.link)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--input', choices=('mp4', 'frames'), default='mp4')
    parser.add_argument('--videos', type=int, default=6)
    parser.add_argument('--fps', type=float, default=1 / 1.5)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--tower-frames', type=int, default=192)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--model', default='ViT-B-32')
    parser.add_argument('--work-dir', default='work_dirs/bench_extract')
    parser.add_argument(
        '--precisions',
        default='fp32,bf16',
        help='comma-separated precisions to measure (fp32, bf16, auto)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    os.makedirs(args.work_dir, exist_ok=True)
    folder = prepare(args.work_dir, args.input, args.videos)
    speed = {}
    for precision in args.precisions.split(','):
        speed[precision] = run_precision(args, folder, device, precision)
    if {'fp32', 'bf16'} <= set(speed):
        (t32, f32), (t16, f16) = speed['fp32'], speed['bf16']
        print(
            f'extract_clip_precision {args.model} {device}: '
            f'tower_bf16_over_fp32={t16 / t32:.3f} '
            f'tool_bf16_over_fp32={f16 / f32:.3f} '
            f"{host_fields('bf16')}",
            flush=True)


def run_precision(args, folder: str, device: str, precision: str):
    """Tower alone, then the tool, in ``precision``; prints one line.

    Returns:
        tuple[float, float]: tower and tool frames/s.
    """
    model = build_clip(dict(model_name=args.model), device=device).model
    precision = cast_frozen(model, precision, device)
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    tower, tower_cpu = tower_fps(
        model,
        args.batch_size,
        args.tower_frames,
        size,
        device,
        precision=precision)
    del model  # the tool builds the same architecture (random weights)
    root = osp.join(args.work_dir, 'out')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(osp.join(root, 'bench', 'TextData'))
    c0 = cpu_seconds()
    summary = clip_features.extract_clip_features(
        folder,
        root,
        'bench',
        fps=args.fps,
        clip_model=dict(model_name=args.model),
        batch_size=args.batch_size,
        workers=args.workers,
        device=device,
        precision=precision,
        do_text=False,
        progress=False,
        check=False,
        log=lambda *a: None)
    tool_cpu = (cpu_seconds() - c0) / max(1, summary['frames']) * 1000
    tool = summary['frames_per_s']
    print(
        f"extract_clip {args.model} {device} input={args.input}: "
        f"tower_fps={tower:.2f} tool_fps={tool:.2f} "
        f"tool_videos_s={summary['videos_per_s']:.3f} "
        f"ratio={tool / tower:.3f} tower_cpu_ms={tower_cpu:.1f} "
        f"tool_cpu_ms={tool_cpu:.1f} "
        f"cpu_ratio={tower_cpu / tool_cpu:.3f} "
        f"videos={summary['videos_encoded']} frames={summary['frames']} "
        f"threads={torch.get_num_threads()} load={os.getloadavg()[0]:.1f} "
        f"{host_fields(summary['precision'])}",
        flush=True)
    return tower, tool


if __name__ == '__main__':
    main()
