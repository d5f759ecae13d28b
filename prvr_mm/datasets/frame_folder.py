"""A folder of frames (``<video_id>/000001.jpg ...``, TVR's 3-fps frames)
read as a video: the same API as :class:`~.video_io.PyAVReader`, opened
through :func:`prvr_mm.datasets.video_io.open_video`."""
import os.path as osp
from typing import Sequence

import numpy as np

from .layout import IMAGE_EXTENSIONS, frame_files
from .video_io import (VideoDecodeError, VideoInfo, _check_indices, _Reader,
                       _stack)


class FrameFolderReader(_Reader):
    """A folder of images at ``fps`` frames per second.

    Image ``i`` in frame order (:func:`~prvr_mm.datasets.layout.frame_files`:
    the numbers in the names in numeric order, so ffmpeg's ``%d.jpg`` works;
    names in two schemes or a missing number are an error naming the files)
    shows time ``i / fps``; a time ``t`` gives the image nearest to it
    (``round(t * fps)``, clipped).

    Args:
        folder (str): folder of ``.jpg`` / ``.jpeg`` / ``.png`` images.
        fps (float): frame rate of the folder (TVR's frames: 3).
    """

    def __init__(self, folder: str, fps: float = 3.0) -> None:
        if fps <= 0:
            raise ValueError(f'frame folder fps must be > 0, got {fps}')
        if not osp.isdir(folder):
            raise VideoDecodeError(f'{folder}: frame folder not found')
        self.files = frame_files(folder)
        if not self.files:
            raise VideoDecodeError(
                f'{folder}: no frames (expected images '
                f'{"/".join(IMAGE_EXTENSIONS)} in the folder)')
        self.folder = folder
        n = len(self.files)
        self.frame_times = np.arange(n, dtype=np.float64) / fps
        self.info = VideoInfo(folder, 'frames', n, float(fps), n / fps)

    def indices_at(self, times: Sequence[float]) -> np.ndarray:
        """Nearest image of each time: ``round(t * fps)``, clipped."""
        times = np.asarray(times, dtype=np.float64)
        idx = np.floor(times * self.info.fps + 0.5).astype(np.int64)
        return np.clip(idx, 0, self.info.num_frames - 1)

    def _load(self, i: int, as_pil: bool):
        from PIL import Image
        path = osp.join(self.folder, self.files[i])
        try:
            with Image.open(path) as img:
                img = img.convert('RGB')
        except (OSError, SyntaxError, ValueError) as e:
            raise VideoDecodeError(
                f'{path}: cannot read frame {i} of the frame folder '
                f'({type(e).__name__}: {e})') from e
        return img if as_pil else np.asarray(img)

    def get_frames(self, indices: Sequence[int], as_pil: bool = False):
        idx = _check_indices(indices, self.info.num_frames, self.folder)
        cache = {}
        out = []
        for i in idx.tolist():
            if i not in cache:
                cache[i] = self._load(i, as_pil)
            out.append(cache[i])
        if not as_pil:
            shapes = {f.shape for f in out}
            if len(shapes) > 1:
                raise VideoDecodeError(
                    f'{self.folder}: frames have different sizes {shapes}')
        else:
            self.info.width, self.info.height = out[0].size if out else (0, 0)
        return _stack(out, as_pil)
