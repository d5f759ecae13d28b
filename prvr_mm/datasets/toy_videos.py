"""Deterministic tiny raw-video PRVR collection: mp4 files, frame folders,
captions in the MS-SL format and moment timestamps.

Each video is a textured background on which a few *moments* happen: a
coloured shape moves in one direction for a second or two (``a red circle
moves left``).  Every query describes one moment by its colour, shape and
direction, and some moments of a video are distractors that share the colour
or the shape of another one, so a model has to look at the right frames to
rank the video.  Everything is drawn from one seeded generator: the same
arguments give identical caption, meta and video files.

Layout written under ``root`` (``collection='toyvid'`` by default)::

    videos/<video_id>.mp4                  H.264 (yuv420p), ``size`` pixels,
                                           ``fps`` frames per second
    videos/<video_id>/000001.jpg ...       ``frame_folders`` videos stored as
                                           JPEG folders at ``frame_fps``
                                           (like TVR's 3-fps frames); frame
                                           ``i`` (0-based) is the scene at
                                           time ``i / frame_fps``
    TextData/<collection>{train,val,test}.caption.txt
                                           ``<video_id>#enc#<n> <sentence>``
    TextData/<collection>_meta.json        durations and query timestamps

The meta file is the one :class:`PRVRFeatureDataset` reads with
``meta_file`` (``{"videos": {vid: {"duration": s, ...}}, "queries":
{cap_id: {"timestamps": [start, end]}}}``); each video entry also holds
``path`` (relative to ``root``), ``format`` (``"mp4"`` or ``"frames"``),
``fps``, ``num_frames``, ``size`` and ``split``, and each query its
``concept`` (``[colour, shape, direction]``).  The feature files
(``FeatureData/...``, ``TextData/roberta_*``, the CLIP teacher files) are
*not* written here: the extraction tools of ``tools/data/`` produce them
from these videos and captions (see ``docs/datasets.md``).
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

COLOURS = {
    'red': (230, 40, 40),
    'green': (40, 200, 60),
    'blue': (50, 80, 240),
    'yellow': (240, 220, 40),
    'cyan': (40, 220, 230),
    'magenta': (220, 50, 220),
    'orange': (250, 140, 20),
    'white': (250, 250, 250),
}
SHAPES = ('circle', 'square', 'triangle', 'cross')
DIRECTIONS = {
    'left': (-1.0, 0.0),
    'right': (1.0, 0.0),
    'up': (0.0, -1.0),
    'down': (0.0, 1.0),
}
_TEMPLATES = (
    'a {c} {s} moves {d}',
    'the {c} {s} slides {d}',
    'a {c} {s} goes {d} across the screen',
    'someone sees a {c} {s} moving {d}',
    'the {c} {s} travels {d} slowly',
    'a small {c} {s} drifts {d}',
)

DEFAULTS = dict(
    num_videos=dict(train=48, val=16, test=16),
    size=64,
    fps=8.0,
    frame_fps=3.0,
    duration=(4.0, 8.0),
    moments=(1, 3),
    moment_len=(1.5, 3.0),
    codec='libx264',
)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random texture (2 * size, 2 * size, 3) float in [0, 90]."""
    coarse = rng.uniform(0, 1, (8, 8, 3))
    big = np.kron(coarse, np.ones((size // 4, size // 4, 1)))
    # box blur twice: soft blobs that pan without flicker
    for _ in range(2):
        big = (big + np.roll(big, 1, 0) + np.roll(big, -1, 0) +
               np.roll(big, 1, 1) + np.roll(big, -1, 1)) / 5
    tint = rng.uniform(0.3, 1.0, 3)
    return big * 90.0 * tint


def _shape_mask(shape: str, xx: np.ndarray, yy: np.ndarray, cx: float,
                cy: float, r: float) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    if shape == 'circle':
        return dx * dx + dy * dy <= r * r
    if shape == 'square':
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if shape == 'triangle':
        return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)
    if shape == 'cross':
        thin = r / 3
        return ((np.abs(dx) <= thin) &
                (np.abs(dy) <= r)) | ((np.abs(dy) <= thin) & (np.abs(dx) <= r))
    raise ValueError(f'unknown shape {shape!r} (known: {SHAPES})')


class ToyScene:
    """One toy video as a function of time.

    Args:
        size (int): frame height and width in pixels.
        background (np.ndarray): (2 * size, 2 * size, 3) texture.
        pan (tuple[float, float]): background pan in pixels per second.
        moments (list[dict]): ``colour``, ``shape``, ``direction``,
            ``start``, ``end`` (seconds) and ``lane`` (offset across the
            motion, in [-0.3, 0.3] of the frame).
    """

    def __init__(self, size: int, background: np.ndarray,
                 pan: Tuple[float, float], moments: List[dict]) -> None:
        self.size, self.background, self.pan = size, background, pan
        self.moments = moments
        self._yy, self._xx = np.mgrid[0:size, 0:size].astype(np.float32)

    def frame(self, t: float) -> np.ndarray:
        """The frame at time ``t`` (seconds): (size, size, 3) uint8 RGB."""
        s = self.size
        ox = int(round(t * self.pan[0])) % s
        oy = int(round(t * self.pan[1])) % s
        img = self.background[oy:oy + s, ox:ox + s].copy()
        for m in self.moments:
            if not m['start'] <= t < m['end']:
                continue
            p = (t - m['start']) / (m['end'] - m['start'])  # 0 -> 1
            dx, dy = DIRECTIONS[m['direction']]
            # travel from 0.2 to 0.8 of the frame along the direction
            along = 0.2 + 0.6 * p
            cx = (along if dx > 0 else 1 - along) if dx else 0.5 + m['lane']
            cy = (along if dy > 0 else 1 - along) if dy else 0.5 + m['lane']
            mask = _shape_mask(m['shape'], self._xx, self._yy, cx * s, cy * s,
                               0.16 * s)
            img[mask] = COLOURS[m['colour']]
        return np.clip(img, 0, 255).astype(np.uint8)


def write_mp4(path: str,
              frames: Iterable[np.ndarray],
              fps: float,
              codec: str = 'libx264',
              options: Optional[Dict[str, str]] = None,
              container_options: Optional[Dict[str, str]] = None) -> int:
    """Encode RGB frames to a video file with PyAV.

    Args:
        path (str): output file (container from the extension).
        frames (Iterable[np.ndarray]): (H, W, 3) uint8 RGB frames, H and W
            even (yuv420p).
        fps (float): frame rate (a rational close to it is used).
        codec (str): encoder; ``libx264`` (default) or ``mpeg4``, ...
        options (dict, optional): encoder options; defaults to a
            deterministic single-threaded x264 setting.
        container_options (dict, optional): muxer options, e.g.
            ``{'movflags': '+faststart'}`` (index at the front).

    Returns:
        int: number of frames written.
    """
    from fractions import Fraction

    import av
    rate = Fraction(fps).limit_denominator(1001)
    if options is None:
        # x264's macroblock-tree rate control gave run-to-run different
        # streams of the same frames on a loaded machine (4 distinct files
        # in 12 encodes); without it, 1 in 12
        options = dict(
            threads='1',
            preset='veryfast',
            crf='23',
            **{'x264-params': 'mbtree=0'}) if codec == 'libx264' else {}
    n = 0
    with av.open(path, 'w', options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.pix_fmt = 'yuv420p'
        stream.thread_count = 1
        for img in frames:
            if n == 0:
                stream.height, stream.width = img.shape[:2]
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
            n += 1
        for packet in stream.encode():
            container.mux(packet)
    return n


def write_frame_folder(folder: str,
                       frames: Iterable[np.ndarray],
                       quality: int = 90) -> int:
    """Write RGB frames as ``000001.jpg``, ``000002.jpg``, ... (1-based).

    Returns:
        int: number of frames written.
    """
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    n = 0
    for n, img in enumerate(frames, 1):
        Image.fromarray(img).save(
            osp.join(folder, f'{n:06d}.jpg'), quality=quality)
    return n


def _between(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _plan_video(rng: np.random.Generator, cfg: dict) -> Tuple[float, list]:
    """Duration and non-overlapping moments of one video."""
    duration = round(_between(rng, cfg['duration']), 2)
    n_mom = int(rng.integers(cfg['moments'][0], cfg['moments'][1] + 1))
    colours, shapes = list(COLOURS), list(SHAPES)
    c0 = colours[int(rng.integers(len(colours)))]
    s0 = shapes[int(rng.integers(len(shapes)))]
    # cut the timeline into n_mom slots; one moment inside each slot
    slot = duration / n_mom
    moments = []
    for m in range(n_mom):
        if m == 0:
            c, s = c0, s0
        elif m % 2:  # distractor: same colour, other shape
            c = c0
            s = shapes[(shapes.index(s0) + 1 +
                        int(rng.integers(len(shapes) - 1))) % len(shapes)]
        else:  # distractor: same shape, other colour
            c = colours[(colours.index(c0) + 1 +
                         int(rng.integers(len(colours) - 1))) % len(colours)]
            s = s0
        d = list(DIRECTIONS)[int(rng.integers(len(DIRECTIONS)))]
        length = min(_between(rng, cfg['moment_len']), slot * 0.9)
        start = m * slot + float(rng.uniform(0, slot - length))
        moments.append(
            dict(
                colour=c,
                shape=s,
                direction=d,
                start=round(start, 2),
                end=round(start + length, 2),
                lane=round(float(rng.uniform(-0.3, 0.3)), 3)))
    order = rng.permutation(n_mom)  # the first query is not always moment 0
    return duration, [moments[i] for i in order]


def _sentence(rng: np.random.Generator, m: dict) -> str:
    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    return template.format(c=m['colour'], s=m['shape'], d=m['direction'])


def _split_sizes(num_videos: Union[int, Dict[str, int]]) -> Dict[str, int]:
    if isinstance(num_videos, int):
        if num_videos < 3:
            raise ValueError(f'num_videos={num_videos}: need at least 3 '
                             '(one per split)')
        val = test = max(1, num_videos // 5)
        return dict(train=num_videos - val - test, val=val, test=test)
    unknown = set(num_videos) - {'train', 'val', 'test'}
    if unknown:
        raise ValueError(f'num_videos has unknown splits {sorted(unknown)}; '
                         'expected train, val, test')
    return dict(num_videos)


def make_toy_videos(root: str,
                    num_videos: Union[int, Dict[str, int]] = None,
                    seed: int = 0,
                    frame_folders: int = 0,
                    collection: str = 'toyvid',
                    **overrides) -> Dict[str, int]:
    """Write the toy raw-video collection to ``root`` (atomically: a temp
    folder next to it is renamed).

    Args:
        root (str): output folder (must not exist).
        num_videos (int | dict, optional): videos per split, e.g.
            ``dict(train=48, val=16, test=16)`` (the default); an int is
            split 60/20/20 %.
        seed (int): random seed; the same arguments give identical files.
        frame_folders (int): how many training videos (the first ones) are
            written as JPEG folders at ``frame_fps`` instead of mp4.
        collection (str): collection name used in file and video names.
        **overrides: any other key of ``DEFAULTS``: ``size`` (pixels,
            even), ``fps``, ``frame_fps``, ``duration`` and ``moment_len``
            (``(min, max)`` seconds), ``moments`` (``(min, max)`` per
            video), ``codec``.

    Returns:
        dict: videos and queries per split, and the ``frame_folders``
        count.
    """
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f'unknown toy video options {sorted(unknown)}; '
                         f'known: {sorted(DEFAULTS)}')
    cfg = dict(DEFAULTS, **overrides)
    sizes = _split_sizes(
        num_videos if num_videos is not None else cfg['num_videos'])
    if cfg['size'] % 4:
        raise ValueError(f"size={cfg['size']}: must be a multiple of 4")
    if frame_folders > sizes.get('train', 0):
        raise ValueError(f'frame_folders={frame_folders} exceeds the '
                         f"{sizes.get('train', 0)} training videos")
    rng = np.random.default_rng(seed)
    size = cfg['size']

    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.toyvid_', dir=parent)
    try:
        video_dir = osp.join(tmp, 'videos')
        text_dir = osp.join(tmp, 'TextData')
        os.makedirs(video_dir)
        os.makedirs(text_dir)
        meta = dict(videos={}, queries={})
        stats: Dict[str, int] = {}
        for split, n_videos in sizes.items():
            lines = []
            for v in range(n_videos):
                vid = f'{collection}_{split}_{v:04d}'
                duration, moments = _plan_video(rng, cfg)
                pan = tuple(float(x) for x in rng.uniform(-6, 6, 2))
                scene = ToyScene(size, _background(rng, size), pan, moments)
                as_frames = split == 'train' and v < frame_folders
                fps = cfg['frame_fps'] if as_frames else cfg['fps']
                # whole frames covering the planned duration
                n_frames = int(np.ceil(duration * fps - 1e-6))
                frames = (scene.frame(i / fps) for i in range(n_frames))
                if as_frames:
                    rel = f'videos/{vid}'
                    write_frame_folder(osp.join(tmp, rel), frames)
                else:
                    rel = f'videos/{vid}.mp4'
                    write_mp4(osp.join(tmp, rel), frames, fps, cfg['codec'])
                meta['videos'][vid] = dict(
                    duration=n_frames / fps,
                    path=rel,
                    format='frames' if as_frames else 'mp4',
                    fps=fps,
                    num_frames=n_frames,
                    size=[size, size],
                    split=split)
                for n, m in enumerate(moments):
                    cap_id = f'{vid}#enc#{n}'
                    lines.append(f'{cap_id} {_sentence(rng, m)}')
                    meta['queries'][cap_id] = dict(
                        timestamps=[m['start'], m['end']],
                        concept=[m['colour'], m['shape'], m['direction']])
            with open(
                    osp.join(text_dir, f'{collection}{split}.caption.txt'),
                    'w') as f:
                f.write('\n'.join(lines) + '\n')
            stats[f'{split}_videos'] = n_videos
            stats[f'{split}_queries'] = len(lines)
        with open(osp.join(text_dir, f'{collection}_meta.json'), 'w') as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        stats['frame_folders'] = frame_folders
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not osp.isdir(root):  # another process may have finished first
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stats


def ensure_toy_videos(root: str, **kwargs) -> Optional[Dict[str, int]]:
    """Generate the toy video collection at ``root`` unless it exists.

    Args:
        root (str): output folder.
        **kwargs: arguments of :func:`make_toy_videos`.

    Returns:
        dict | None: the statistics of :func:`make_toy_videos`, or None when
        ``root`` already existed.
    """
    if osp.isdir(root):
        return None
    return make_toy_videos(root, **kwargs)
