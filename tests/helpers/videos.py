"""Video fixtures: a damaged mp4 for the skip-list and error paths, and
one-call reads of a video through the project's reader."""
from typing import List, Sequence, Union

import numpy as np

from prvr_mm.datasets.toy_videos import (DEFAULTS, ToyScene, _background,
                                         write_mp4)
from prvr_mm.datasets.video_io import VideoInfo, open_video


def write_corrupt_mp4(path: str,
                      size: int = DEFAULTS['size'],
                      fps: float = DEFAULTS['fps'],
                      seed: int = 0) -> str:
    """A real H.264 mp4 cut to its first 40 % (the index atom is lost), as
    a video that no decoder can open (``toyvid_corrupt.mp4`` next to the toy
    videos, named by no caption file).

    Returns:
        str: ``path``.
    """
    rng = np.random.default_rng(seed)
    scene = ToyScene(size, _background(rng, size), (0.0, 0.0), [])
    write_mp4(path, (scene.frame(i / fps) for i in range(16)), fps)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:max(64, int(len(data) * 0.4))])
    return path


def read_frames_at(path: str,
                   times: Union[Sequence[float], np.ndarray],
                   frame_fps: float = 3.0,
                   as_pil: bool = False) -> Union[np.ndarray, List]:
    """Open a video, return its frames shown at ``times`` (seconds) and
    close it (:func:`prvr_mm.datasets.video_io.open_video`)."""
    with open_video(path, frame_fps) as reader:
        return reader.frames_at(times, as_pil=as_pil)


def probe(path: str, frame_fps: float = 3.0) -> VideoInfo:
    """:class:`VideoInfo` of a video file or frame folder (no decoding)."""
    with open_video(path, frame_fps) as reader:
        return reader.info
