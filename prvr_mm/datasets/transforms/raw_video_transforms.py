"""Pipeline transforms of raw-video PRVR samples: decoding through the one
video reader (:mod:`prvr_mm.datasets.video_io`), the CLIP teacher's frames,
and packing of frames + queries for the model.

A raw-video training pipeline (see ``docs/raw_video.md``)::

    CheckedPyAVInit -> SampleFrames -> CheckedPyAVDecode
    -> CLIPTeacherFrames (train only, online teacher)
    -> Resize -> CenterCrop -> FormatShape('NCTHW')
    -> TruncateTokens -> PackPRVRRawInputs
"""
from typing import Dict, Optional

import numpy as np
import torch
from mmaction.datasets.transforms import RawFrameDecode
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from ...errors import PRVRDataError
from ..video_io import PyAVReader, VideoDecodeError
from .prvr_transforms import PackPRVRInputs


def _video_error(results: Dict, what: str, err: BaseException,
                 expected: str) -> PRVRDataError:
    name = results.get('filename', results.get('frame_dir', '<unknown>'))
    vid = results.get('video_id')
    key = f' (video {vid!r})' if vid else ''
    return PRVRDataError(
        f'{name}{key}: {what}: {type(err).__name__}: {err}; expected '
        f'{expected}')


@TRANSFORMS.register_module()
class CheckedPyAVInit(BaseTransform):
    """Open a video file with the project's one reader,
    :class:`prvr_mm.datasets.video_io.PyAVReader` (mmaction2's ``PyAVInit``
    keys, frame-exact).

    - ``total_frames`` is the number of frames in the file, counted from the
      demuxed packets (no decoding), also for containers that store no frame
      count (WebM, Matroska, some AVI), where mmaction2's ``PyAVInit``
      reports 0 and ``SampleFrames`` then fails.
    - A missing, empty, corrupt or unreadable file raises
      :class:`PRVRDataError` naming the file, the video id and the reason.

    A frame folder (``frame_dir`` set by :class:`PRVRRawVideoDataset`, with
    ``total_frames``) passes through, so one pipeline reads collections that
    mix video files and frame folders.

    Required keys: ``filename``. Added keys: ``video_reader``,
    ``total_frames``.
    """

    def transform(self, results: Dict) -> Dict:
        """Open the video and count its frames."""
        if 'frame_dir' in results:
            return results
        try:
            reader = PyAVReader(results['filename'])
        except VideoDecodeError as err:
            raise _video_error(results, 'cannot open the video', err,
                               'a readable video file') from err
        results['video_reader'] = reader
        results['total_frames'] = reader.info.num_frames
        return results


@TRANSFORMS.register_module()
class CheckedPyAVDecode(BaseTransform):
    """Decode the sampled frames (``frame_inds``) with the reader opened by
    :class:`CheckedPyAVInit`: exactly the frames a sequential decode gives
    at those indices (what mmaction2's ``PyAVDecode`` in ``'accurate'``
    mode returns), without decoding the whole prefix. Decoding errors
    (truncated or corrupt streams) raise :class:`PRVRDataError` naming the
    file. A frame folder (``frame_dir``) is read by mmaction2's
    ``RawFrameDecode`` instead.

    Required keys: ``video_reader``, ``frame_inds``. Added or modified keys:
    ``imgs``, ``original_shape``, ``img_shape``; ``video_reader`` is closed
    and set to None.

    Args:
        mode (str): accepted for mmaction2 configs: ``'accurate'`` (the
            default) or ``'efficient'``; both give the exact frames.
        multi_thread (bool): accepted for mmaction2 configs; unused (one
            decoding thread per worker).
    """

    def __init__(self,
                 mode: str = 'accurate',
                 multi_thread: bool = False) -> None:
        if mode not in ('accurate', 'efficient'):
            raise ValueError(
                f"mode must be 'accurate' or 'efficient', got {mode!r}")
        self.mode, self.multi_thread = mode, multi_thread
        self._frames = RawFrameDecode()

    def transform(self, results: Dict) -> Dict:
        """Decode the sampled frames."""
        if 'frame_dir' in results:
            try:
                return self._frames.transform(results)
            except Exception as err:  # mmcv image errors
                raise _video_error(
                    results, 'cannot decode the sampled frames', err,
                    f"{results.get('total_frames')} readable images") from err
        reader = results['video_reader']
        inds = np.asarray(results['frame_inds']).reshape(-1)
        try:
            imgs = reader.get_frames(inds % reader.info.num_frames)
        except VideoDecodeError as err:
            raise _video_error(
                results, 'cannot decode the sampled frames', err,
                f'{reader.info.num_frames} decodable frames') from err
        finally:
            reader.close()
        results['frame_inds'] = inds
        results['imgs'] = list(imgs)
        results['original_shape'] = results['img_shape'] = imgs.shape[1:3]
        results['video_reader'] = None
        return results


@TRANSFORMS.register_module()
class CLIPTeacherFrames(BaseTransform):
    """The online CLIP teacher's frame of every clip, resized and cropped
    exactly as ``open_clip``'s own preprocessing does.

    Takes the middle frame of each sampled clip from the decoded frames
    (full resolution, before the student's ``Resize``/``CenterCrop``) and
    applies the geometric part of the transform that
    ``open_clip.create_model_and_transforms`` returns for ``clip_model``
    (resize, crop, on a PIL image). The result stays uint8:
    :class:`CLIPTeacherHead` divides by 255 and applies the model's mean/std
    in the training step, which is what ``ToTensor`` + ``Normalize`` would
    do.

    Required keys: ``imgs`` (``num_clips * clip_len`` (H, W, 3) uint8 RGB
    frames), ``num_clips``, ``clip_len``. Added key: ``teacher_frames``
    (num_clips, S, S, 3) uint8.

    Args:
        clip_model (dict, optional): the teacher's ``clip_model`` config (the
            same dict as the teacher head's); the preprocessing is resolved
            from it without building the model.
        preprocess_cfg (dict, optional): explicit ``size``,
            ``interpolation``, ``resize_mode``, ``fill_color`` instead of
            ``clip_model``.
    """

    def __init__(self,
                 clip_model: Optional[dict] = None,
                 preprocess_cfg: Optional[dict] = None) -> None:
        from ...models.teachers.open_clip_utils import (GEOMETRY_KEYS,
                                                        resolve_preprocess_cfg)
        if (clip_model is None) == (preprocess_cfg is None):
            raise ValueError(
                'CLIPTeacherFrames needs exactly one of clip_model and '
                'preprocess_cfg')
        cfg = resolve_preprocess_cfg(clip_model) if clip_model else dict(
            preprocess_cfg)
        if 'size' not in cfg:
            raise ValueError(f'preprocess_cfg {cfg} has no size')
        self.geometry = {k: cfg[k] for k in GEOMETRY_KEYS if k in cfg}
        self._resize = None

    def _build(self):
        import open_clip
        from torchvision.transforms import Compose, Normalize, ToTensor
        full = open_clip.image_transform(
            self.geometry['size'],
            is_train=False,
            resize_mode=self.geometry.get('resize_mode'),
            interpolation=self.geometry.get('interpolation'),
            fill_color=self.geometry.get('fill_color', 0))
        return Compose([
            t for t in full.transforms
            if not isinstance(t, (ToTensor, Normalize))
        ])

    def transform(self, results: Dict) -> Dict:
        """Pick, resize and crop one frame per clip."""
        from PIL import Image
        if self._resize is None:
            self._resize = self._build()
        imgs = results['imgs']
        num_clips, clip_len = results['num_clips'], results['clip_len']
        if isinstance(clip_len, dict):  # SlowFast-style sampling
            raise ValueError('CLIPTeacherFrames needs an integer clip_len')
        if len(imgs) < num_clips * clip_len:
            raise PRVRDataError(
                f"{results.get('filename')}: {len(imgs)} decoded frames, "
                f'expected num_clips * clip_len = {num_clips * clip_len}; '
                'put CLIPTeacherFrames right after the decoder')
        centres = np.arange(num_clips) * clip_len + clip_len // 2
        frames = [
            np.asarray(self._resize(Image.fromarray(np.asarray(imgs[c]))))
            for c in centres
        ]
        results['teacher_frames'] = np.stack(frames)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.geometry})'


@TRANSFORMS.register_module()
class PackPRVRRawInputs(PackPRVRInputs):
    """Pack a raw-video sample: uint8 clips instead of clip features.

    ``inputs``: ``video`` (L, C, T, H, W) uint8 (from
    ``FormatShape('NCTHW')``, one crop), ``queries`` (n, Lq, Dq),
    ``query_lengths`` (n,), and with :class:`CLIPTeacherFrames`
    ``teacher_frames`` (L, 3, S, S) uint8. ``data_samples`` as
    :class:`PackPRVRInputs`, plus ``filename`` (or ``frame_dir``) and
    ``sentences`` (the n caption strings, for the online teacher; strings
    travel in the data samples, which the collate function leaves alone).
    """

    META_KEYS = PackPRVRInputs.META_KEYS + ('filename', 'frame_dir',
                                            'sentences')

    def _pack_video(self, results: Dict) -> torch.Tensor:
        imgs = results['imgs']
        num_clips = results.get('num_clips')
        if not isinstance(imgs, np.ndarray) or imgs.ndim != 5 or (
                num_clips is not None and imgs.shape[0] != num_clips):
            shape = getattr(imgs, 'shape', None) or f'{len(imgs)} frames'
            raise PRVRDataError(
                f"{results.get('filename')}: clips of shape {shape}, "
                f'expected (num_clips={num_clips}, C, T, H, W): end the '
                "pipeline with FormatShape(input_format='NCTHW') and one "
                'crop per clip')
        return torch.from_numpy(np.ascontiguousarray(imgs))

    def transform(self, results: Dict) -> Dict:
        """Build the packed dict."""
        packed = super().transform(results)
        frames = results.get('teacher_frames')
        if frames is not None:
            packed['inputs']['teacher_frames'] = torch.from_numpy(
                np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))
        return packed
