"""PRVR raw-video dataset: one item = one video file with all its queries,
decoded by mmaction2 pipeline transforms."""
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmaction.registry import DATASETS

from ..utils.dependencies import require_video_decoder
from .layout import VIDEO_EXTENSIONS, find_videos, frame_files, frame_pattern
from .prvr_dataset import PRVRFeatureDataset
from .readers import PRVRDataError
from .toy_raw import ensure_toy_raw_dataset


@DATASETS.register_module()
class PRVRRawVideoDataset(PRVRFeatureDataset):
    """Videos (files or frame folders) with their queries, for end-to-end
    training.

    Same captions, query token features, meta file, checks and layout
    defaults (``collection``, ``split``, ``with_meta``) as
    :class:`PRVRFeatureDataset` (whose parsing it inherits); instead of clip
    features every item names its video, for an mmaction2 decoding pipeline
    (``CheckedPyAVInit``, ``SampleFrames``, ``CheckedPyAVDecode``,
    ``Resize``, ``CenterCrop``, ``FormatShape``, ``PackPRVRRawInputs``).
    The video of id ``vid`` is ``<data_root>/<data_prefix['video']>/<vid>``
    + an extension of ``video_exts``, or the frame folder ``.../<vid>/`` of
    images named ``frame_tmpl`` (TVR's frames, for example), as listed by
    :func:`prvr_mm.datasets.layout.find_videos` (two entries for one id are
    an error naming both); every video of the split must exist (checked at
    start-up, the error names the folder and the ids).

    Each raw item given to the pipeline holds ``video_id``, ``query_ids``,
    ``sentences``, ``modality`` (``'RGB'``), ``query_feats``, with a meta
    file ``duration`` and ``timestamps``, and either ``filename`` and
    ``start_index`` 0 (a video file) or ``frame_dir``, ``filename_tmpl``,
    ``total_frames`` and ``start_index`` (a frame folder, the keys of
    mmaction2's ``RawFrameDecode``).

    Args:
        ann_file (str, optional): caption file, ``<cap_id> <sentence>``
            lines (or ``collection`` + ``split``).
        text_feature (str, optional): h5 of query token features keyed by
            cap_id (defaults to the layout's RoBERTa file with
            ``collection``).
        data_prefix (dict): ``video``: folder of the video files, relative
            to ``data_root``. Defaults to ``dict(video='videos')``.
        video_exts (Sequence[str]): video file extensions. Defaults to
            :data:`prvr_mm.datasets.layout.VIDEO_EXTENSIONS`.
        frame_tmpl (str): image names in a frame folder. Defaults to
            ``'{:06d}.jpg'``.
        frame_start_index (int): index of a frame folder's first image.
            Defaults to 1.
        generate_toy (dict, optional): when given, first write the toy
            raw-video dataset at ``data_root`` unless it exists (its token
            features at ``text_feature``), with these keyword arguments of
            :func:`prvr_mm.datasets.toy_raw.ensure_toy_raw_dataset`.
        data_root (str): root of the paths.
        pipeline (list): transforms.
        test_mode (bool): MMEngine flag.
        **kwargs: other :class:`PRVRFeatureDataset` arguments
            (``collection``, ``split``, ``with_meta``, ``meta_file``,
            ``text_dim``, ``cache``, ``check_keys``, ...).
    """

    reads_video_features = False

    def __init__(self,
                 ann_file: Optional[str] = None,
                 text_feature: Optional[str] = None,
                 data_prefix: Dict[str, str] = dict(video='videos'),
                 video_exts: Sequence[str] = VIDEO_EXTENSIONS,
                 frame_tmpl: str = '{:06d}.jpg',
                 frame_start_index: int = 1,
                 generate_toy: Optional[dict] = None,
                 data_root: str = '',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        if generate_toy is not None:
            ensure_toy_raw_dataset(
                data_root,
                **dict(dict(text_feature=text_feature), **generate_toy))
        if kwargs.get('video_feature'):
            raise ValueError('PRVRRawVideoDataset reads video files '
                             "(data_prefix['video']), not video_feature")
        self.video_exts = tuple(
            e if e.startswith('.') else '.' + e for e in video_exts)
        self.frame_tmpl = frame_tmpl
        self.frame_start_index = frame_start_index
        super().__init__(
            ann_file=ann_file,
            text_feature=text_feature,
            data_root=data_root,
            data_prefix=dict(data_prefix),
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs)

    @property
    def video_dir(self) -> str:
        """The folder of the video files (joined with ``data_root``)."""
        return self.data_prefix.get('video', '')

    def _index_videos(self) -> Dict[str, str]:
        """Video id -> file or frame folder
        (:func:`~prvr_mm.datasets.layout.find_videos`: an id given twice is
        an error naming both paths)."""
        try:
            return find_videos(self.video_dir, self.video_exts)
        except PRVRDataError as err:
            raise PRVRDataError(
                f'{err} (data_prefix video of {self.ann_file})') from None

    def load_data_list(self) -> List[dict]:
        """Group the queries by video and attach each video's file."""
        data_list = super().load_data_list()
        files = self._index_videos()
        require_video_decoder(files.values(),
                              f'PRVRRawVideoDataset ({self.ann_file})')
        missing = [
            d['video_id'] for d in data_list if d['video_id'] not in files
        ]
        if missing:
            raise PRVRDataError(
                f'{self.video_dir}: {len(missing)} of {len(data_list)} '
                f'videos of {self.ann_file} have no file, e.g. '
                f'{missing[:5]}; expected <video_id> with one of '
                f'{self.video_exts}')
        for info in data_list:
            path = files[info['video_id']]
            if osp.isdir(path):
                info.update(self._frame_folder(path))
            else:
                info.update(filename=path, start_index=0)
            info['modality'] = 'RGB'
        return data_list

    def _frame_folder(self, folder: str) -> dict:
        """``RawFrameDecode`` keys of a frame folder, checked: its images
        in frame order (:func:`~prvr_mm.datasets.layout.frame_files`:
        numeric order, one naming scheme, no number missing) must be
        exactly ``frame_tmpl.format(frame_start_index + i)``, the image
        ``RawFrameDecode`` reads as frame ``i``."""
        files = frame_files(folder)
        first = self.frame_start_index
        wanted = [self.frame_tmpl.format(first + i) for i in range(len(files))]
        bad = next(
            (i for i, (a, b) in enumerate(zip(files, wanted)) if a != b), None)
        if not files or bad is not None:
            tmpl, start = frame_pattern(folder)
            raise PRVRDataError(
                f'{folder}: frame folder without {wanted[bad or 0]!r} (frame '
                f'{bad or 0} of frame_tmpl={self.frame_tmpl!r} from '
                f'frame_start_index={first}); its {len(files)} images are '
                f'{files[0]!r} to {files[-1]!r}: set '
                f'frame_tmpl={tmpl!r} and frame_start_index={start}')
        return dict(
            frame_dir=folder,
            filename_tmpl=self.frame_tmpl,
            total_frames=len(files),
            start_index=first)
