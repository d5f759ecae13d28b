"""Decode throughput of PyAV, decord and TorchCodec on generated videos.

Two workloads per video, single-threaded decoders (one decoder per
DataLoader worker is how the extraction tools use them):

* ``full``: every frame, decoded and converted to RGB (frames/s, and CPU
  milliseconds per frame, ``_cpu_ms``, which other load does not inflate);
* ``sample``: the frames at the centres of ``--samples-per-min`` equal
  segments per minute of video (what teacher extraction asks for), in
  requested frames/s and in decoded-video seconds per wall second.

Readers: ``prvr`` (:class:`prvr_mm.datasets.video_io.PyAVReader`, exact
frames, non-reference frames skipped), ``prvr_noskip`` (same without
skipping), ``pyav`` (plain sequential ``container.decode``), ``decord``
(``VideoReader.get_batch``), ``torchcodec`` (``VideoDecoder`` with
``seek_mode='exact'``).  A library that cannot be imported or load its
FFmpeg is reported as unavailable with the reason.  TorchCodec needs the
FFmpeg shared libraries of the system; to measure it anyway point it at
PyAV's bundled copy with versioned symlinks in ``LD_LIBRARY_PATH`` (see
``docs/datasets.md``).

Usage::

    python benchmarks/video_decode.py [--work-dir work_dirs/bench_videos]
        [--realistic 640x360@30x60] [--toy 4] [--repeats 1]

The last line is ``video_decode <video>: <reader>.<workload>=<fps> ...``
for the realistic video (one line per video before it).
"""
import argparse
import os
import os.path as osp
import time

import numpy as np
from long_video import make_long_video

from prvr_mm.datasets import toy_videos, video_io
from prvr_mm.extraction.decoding import segment_centres

PyAVReader = video_io.PyAVReader


def _pyav_full(path):
    import av
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_count = 1
        return sum(1 for f in c.decode(s)
                   if f.to_ndarray(format='rgb24') is not None)


def _prvr_full(path):
    with PyAVReader(path) as r:
        n = 0
        for chunk in np.array_split(
                np.arange(r.info.num_frames), max(1, r.info.num_frames // 64)):
            n += len(r.get_frames(chunk))
        return n


def _prvr_sample(path, times, skip=True):
    with PyAVReader(path, skip_nonref=skip) as r:
        return len(r.frames_at(times))


def _decord_full(path):
    import decord
    vr = decord.VideoReader(path, num_threads=1)
    n = 0
    for i in range(len(vr)):
        n += vr[i].asnumpy() is not None
    return n


def _decord_sample(path, times):
    import decord
    vr = decord.VideoReader(path, num_threads=1)
    fps = vr.get_avg_fps()
    idx = np.clip(
        np.floor(np.asarray(times) * fps + 1e-6).astype(int), 0,
        len(vr) - 1)
    return len(vr.get_batch(list(idx)).asnumpy())


def _torchcodec_full(path):
    from torchcodec.decoders import VideoDecoder
    d = VideoDecoder(
        path, seek_mode='exact', num_ffmpeg_threads=1, dimension_order='NHWC')
    n, step = 0, 64
    total = d.metadata.num_frames
    for start in range(0, total, step):
        n += len(d.get_frames_in_range(start, min(total, start + step)).data)
    return n


def _torchcodec_sample(path, times):
    from torchcodec.decoders import VideoDecoder
    d = VideoDecoder(
        path, seek_mode='exact', num_ffmpeg_threads=1, dimension_order='NHWC')
    return len(d.get_frames_played_at(list(times)).data)


def _available(name):
    try:
        if name == 'decord':
            import decord  # noqa: F401
        elif name == 'torchcodec':
            from torchcodec.decoders import VideoDecoder  # noqa: F401
        return None
    except Exception as e:  # noqa: BLE001 (reported, not raised)
        return f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'


def _timed(fn, *args, repeats=1):
    """Frames returned, best wall seconds, CPU seconds of that run (the
    CPU time does not depend on other load of the machine)."""
    best, cpu = float('inf'), 0.0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        n = fn(*args)
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    return n, best, cpu


def bench_video(path, samples_per_min, repeats):
    with PyAVReader(path) as r:
        info = r.info
    num = max(1, int(round(info.duration / 60 * samples_per_min)))
    times = segment_centres(info.duration, num)
    res = {}
    readers = dict(
        prvr=(_prvr_full, lambda p: _prvr_sample(p, times)),
        prvr_noskip=(None, lambda p: _prvr_sample(p, times, False)),
        pyav=(_pyav_full, None),
        decord=(_decord_full, lambda p: _decord_sample(p, times)),
        torchcodec=(_torchcodec_full, lambda p: _torchcodec_sample(p, times)))
    for name, (full, sample) in readers.items():
        why = _available(name)
        if why:
            res[name] = f'unavailable({why})'
            continue
        for workload, fn in (('full', full), ('sample', sample)):
            if fn is None:
                continue
            try:
                n, sec, cpu = _timed(fn, path, repeats=repeats)
            except Exception as e:  # noqa: BLE001
                res[f'{name}.{workload}'] = f'failed({type(e).__name__})'
                continue
            res[f'{name}.{workload}'] = round(n / sec, 1)
            res[f'{name}.{workload}_cpu_ms'] = round(cpu / n * 1000, 2)
            if workload == 'sample':
                res[f'{name}.sample_video_s_per_s'] = round(
                    info.duration / sec, 1)
    return info, num, res


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/bench_videos')
    parser.add_argument(
        '--realistic',
        default='640x360@30x60',
        help='WxH@FPSxSECONDS of the realistic H.264 video')
    parser.add_argument(
        '--toy', type=int, default=4, help='number of 64x64 toy videos')
    parser.add_argument(
        '--samples-per-min',
        type=float,
        default=40,
        help='sampled frames per minute (1.5 s segments)')
    parser.add_argument('--repeats', type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    size, rest = args.realistic.split('@')
    w, h = (int(x) for x in size.split('x'))
    fps, secs = (float(x) for x in rest.split('x'))
    real = osp.join(args.work_dir, f'real_{w}x{h}_{fps:g}fps_{secs:g}s.mp4')
    if not osp.isfile(real):
        make_long_video(real + '.tmp.mp4', (w, h), fps, secs)
        os.rename(real + '.tmp.mp4', real)
    toy_root = osp.join(args.work_dir, 'toy')
    if not osp.isdir(toy_root):
        toy_videos.make_toy_videos(
            toy_root, num_videos=dict(train=args.toy, val=0, test=0))
    toys = sorted(
        osp.join(toy_root, 'videos', f)
        for f in os.listdir(osp.join(toy_root, 'videos')))
    for path in toys + [real]:
        info, num, res = bench_video(path, args.samples_per_min, args.repeats)
        fields = ' '.join(f'{k}={v}' for k, v in res.items())
        print(
            f'video_decode {osp.basename(path)} ({info.width}x'
            f'{info.height}, {info.fps:g} fps, {info.num_frames} frames, '
            f'{num} samples): {fields}',
            flush=True)


if __name__ == '__main__':
    main()
