"""Student front end: raw clips -> one feature per clip with any registered
mmaction2 backbone, frozen or trained with the student."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ...errors import PRVRConfigError

FORMATS = ('NCTHW', 'NCHW')


@MODELS.register_module()
class VideoBackboneFrontend(BaseModule):
    """Encodes every valid clip of a padded batch with an mmaction2 backbone.

    - ``input_format='NCTHW'`` (3D backbones: ``mmaction.X3D``,
      ``mmaction.ResNet3d``, ``mmaction.ResNet3dSlowFast``,
      ``mmaction.VisionTransformer``, ...): each clip (C, T, H, W) is one
      backbone input.
    - ``input_format='NCHW'`` (2D backbones: ``mmaction.ResNet``,
      ``mmaction.MobileNetV2``, ...): every frame of a clip is encoded alone
      and the frame features are averaged over the clip.

    The backbone's output (a tensor, or a tuple of tensors such as SlowFast's
    two pathways, concatenated) is averaged over time and space into one
    feature per clip. Its channel count :attr:`out_channels` is the
    branches' ``video_dim`` (:class:`DualStudentRecognizer` sets it): given,
    or measured once at build time on a probe clip of zeros. Padded clips
    are never encoded (they get zeros).

    ``frozen=True`` keeps the backbone in eval mode (BatchNorm statistics
    included) without gradients; its weights come from the backbone's own
    ``pretrained``/``init_cfg`` (e.g. ``init_cfg=dict(type='Pretrained',
    checkpoint=...)``). ``frozen=False`` trains it with the student.

    Args:
        backbone (dict): any registered mmaction2 backbone config, e.g.
            ``dict(type='mmaction.X3D', gamma_w=1, gamma_b=2.25,
            gamma_d=2.2)``.
        input_format (str): ``'NCTHW'`` (default) or ``'NCHW'``, see above.
        frozen (bool): freeze the backbone. Defaults to False.
        clips_per_forward (int, optional): encode at most this many clips
            (``NCHW``: clips, all their frames) per backbone call, to bound
            activation memory. Defaults to None (all at once).
        out_channels (int, optional): the clip feature dimension; None
            (default) measures it on a probe clip.
        probe_shape (tuple[int, int]): ``(frames, pixels)`` of the probe
            clip (1, 3, frames, pixels, pixels). Defaults to ``(8, 64)``.
        init_cfg (dict, optional): initialisation config of this module.
    """

    def __init__(self,
                 backbone: dict,
                 input_format: str = 'NCTHW',
                 frozen: bool = False,
                 clips_per_forward: Optional[int] = None,
                 out_channels: Optional[int] = None,
                 probe_shape: Tuple[int, int] = (8, 64),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if input_format not in FORMATS:
            raise PRVRConfigError(
                f'input_format must be one of {FORMATS}, got '
                f'{input_format!r}')
        if clips_per_forward is not None and clips_per_forward < 1:
            raise ValueError(
                f'clips_per_forward must be >= 1, got {clips_per_forward}')
        self.backbone = MODELS.build(backbone)
        self.input_format = input_format
        self.frozen = frozen
        self.clips_per_forward = clips_per_forward
        if frozen:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        self.out_channels = out_channels or self._probe(backbone, probe_shape)

    def _probe(self, cfg: dict, shape: Tuple[int, int]) -> int:
        """Output channels of the backbone on a (1, 3, T, S, S) zero clip."""
        frames, size = shape
        training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                clip = torch.zeros(1, 3, frames, size, size)
                return int(self.encode_clips(clip).shape[-1])
        except Exception as err:
            raise ValueError(
                f"cannot measure the output channels of {cfg.get('type')} "
                f'on a probe clip (1, 3, {frames}, {size}, {size}) '
                f'({type(err).__name__}: {err}); set out_channels or '
                'probe_shape of the frontend') from err
        finally:
            self.backbone.train(training)

    def train(self, mode: bool = True) -> 'VideoBackboneFrontend':
        """Set the mode; a frozen backbone stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    @staticmethod
    def _pool(feats: Union[torch.Tensor,
                           Sequence[torch.Tensor]]) -> torch.Tensor:
        """(N, C, ...) or a tuple of them -> (N, sum C) global average
        ((N, C) outputs, e.g. a pooled ViT, are taken as they are)."""
        if isinstance(feats, torch.Tensor):
            feats = [feats]
        return torch.cat(
            [f if f.dim() == 2 else f.flatten(2).mean(-1) for f in feats],
            dim=-1)

    def encode_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """Encode clips (N, C, T, H, W) (normalised) into (N, D)."""
        if self.input_format == 'NCHW':
            n, t = clips.shape[0], clips.shape[2]
            frames = clips.transpose(1, 2).flatten(0, 1)  # (N*T, C, H, W)
            return self._pool(self.backbone(frames)).view(n, t, -1).mean(1)
        return self._pool(self.backbone(clips))

    def forward(self, video: torch.Tensor,
                video_mask: torch.Tensor) -> torch.Tensor:
        """Clip features of a padded batch.

        Args:
            video (Tensor): (B, L, C, T, H, W) normalised clips.
            video_mask (Tensor): (B, L), 1 = valid clip.

        Returns:
            Tensor: (B, L, D) clip features, zeros at padded clips.
        """
        if video.dim() != 6:
            raise PRVRConfigError(
                f'VideoBackboneFrontend takes (B, L, C, T, H, W) clips, got '
                f'shape {tuple(video.shape)} (PackPRVRRawInputs after '
                "FormatShape(input_format='NCTHW'))")
        valid = video_mask.bool()
        full = bool(valid.all())  # no padding: a view, no copy
        clips = video.flatten(0, 1) if full else video[valid]
        step = self.clips_per_forward or max(len(clips), 1)
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.frozen):
            feats = torch.cat([
                self.encode_clips(clips[i:i + step])
                for i in range(0, len(clips), step)
            ])
        if full:
            return feats.view(*valid.shape, feats.shape[-1])
        out = feats.new_zeros(*valid.shape, feats.shape[-1])
        out[valid] = feats
        return out
