"""Dropout whose random draws cost less than the product they feed (CPU).

On CPU ``torch.nn.Dropout`` draws one Bernoulli sample per element through
the generic generator path, which costs about as much as the linear layer
behind DL-DKD's 3072-d input dropout.  :func:`keep_mask` draws the same
distribution from 16-bit slices of 64-bit random words (four elements per
draw): element ``i`` is kept when its slice ``u_i`` (uniform on
``[0, 2^16)``) is below ``round((1 - p) * 2^16)``, i.e. with probability
``1 - p`` rounded to a multiple of ``2^-16`` (``p = 0.1`` keeps with
0.899994).  Other devices keep torch's fused dropout.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

_LANES = 4  # 16-bit slices per int64 draw


def keep_mask(shape: torch.Size, p: float,
              device: torch.device) -> torch.Tensor:
    """Bernoulli(1 - p) keep mask (bool) of ``shape`` from 16-bit draws.

    Args:
        shape (torch.Size): mask shape.
        p (float): drop probability in ``[0, 1]``.
        device (torch.device): where to draw it.

    Returns:
        Tensor: bool mask, True = keep.
    """
    numel = 1
    for size in shape:
        numel *= size
    words = torch.randint(
        -2**63,
        2**63 - 1, ((numel + _LANES - 1) // _LANES, ),
        dtype=torch.int64,
        device=device)
    lanes = words.view(torch.int16)[:numel]  # uniform on [-2^15, 2^15)
    threshold = round((1.0 - p) * 65536) - 32768
    return (lanes < threshold).view(shape)


def use_fast_dropout(x: torch.Tensor, p: float, training: bool) -> bool:
    """Whether :func:`keep_mask` serves this dropout call (CPU, training,
    ``0 < p < 1``)."""
    return training and 0.0 < p < 1.0 and x.device.type == 'cpu'


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its CPU masks with :func:`keep_mask`.

    Same arguments, same expected value (kept elements scaled by
    ``1 / (1 - p)``); on other devices, in eval mode or with ``p`` 0 or 1 it
    is ``nn.Dropout``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drop elements of ``x`` (any shape)."""
        if not use_fast_dropout(x, self.p, self.training):
            return F.dropout(x, self.p, self.training, self.inplace)
        keep = keep_mask(x.shape, self.p, x.device)
        return torch.where(keep, x, 0.0).mul_(1.0 / (1.0 - self.p))


def build_dropout(p: float, fast: bool = True) -> nn.Dropout:
    """:class:`FastDropout` (``fast``) or ``torch.nn.Dropout``."""
    return FastDropout(p) if fast else nn.Dropout(p)
