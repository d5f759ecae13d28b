"""A realistic-size test video for the decode and extraction benchmarks
(``video_decode.py``, ``extract_clip.py``), drawn like the toy videos of
:mod:`prvr_mm.datasets.toy_videos`."""
from typing import Tuple

import numpy as np

from prvr_mm.datasets.toy_videos import (COLOURS, DIRECTIONS, SHAPES, ToyScene,
                                         _background, write_mp4)


def make_long_video(path: str,
                    size: Tuple[int, int] = (640, 360),
                    fps: float = 30.0,
                    seconds: float = 60.0,
                    seed: int = 0,
                    codec: str = 'libx264') -> int:
    """A realistic-size test video (default 640x360, 30 fps, 60 s, H.264):
    a panning texture with moving shapes, for decode and extraction
    benchmarks.

    Args:
        path (str): output file.
        size (tuple[int, int]): ``(width, height)``, both even.
        fps (float): frame rate.
        seconds (float): duration.
        seed (int): random seed.
        codec (str): encoder.

    Returns:
        int: number of frames written.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    side = max(w, h)
    side += (-side) % 4
    moments, t = [], 0.0
    while t < seconds:
        length = float(rng.uniform(1.5, 4.0))
        moments.append(
            dict(
                colour=list(COLOURS)[int(rng.integers(len(COLOURS)))],
                shape=SHAPES[int(rng.integers(len(SHAPES)))],
                direction=list(DIRECTIONS)[int(rng.integers(4))],
                start=t,
                end=t + length,
                lane=float(rng.uniform(-0.3, 0.3))))
        t += length + float(rng.uniform(0.5, 2.0))
    bg = _background(rng, side)
    # fine grain so the encoder has real work (not a flat picture)
    bg = bg + rng.normal(0, 12, bg.shape)
    scene = ToyScene(side, bg, (25.0, 9.0), moments)
    n = int(round(seconds * fps))

    def frames():
        for i in range(n):
            img = scene.frame(i / fps)[:h, :w].astype(np.int16)
            # sensor noise: a bit rate like camera footage (~1 Mbit/s)
            img += rng.integers(-6, 7, img.shape, dtype=np.int16)
            yield np.clip(img, 0, 255).astype(np.uint8)

    return write_mp4(
        path,
        frames(),
        fps,
        codec,
        options=dict(preset='veryfast', crf='18')
        if codec == 'libx264' else None)
