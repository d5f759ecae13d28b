"""Linear layers through oneDNN on CPU (training fast path).

PyTorch's ``F.linear`` runs float32 products on CPU through MKL's sgemm.
On the 2-core AMD machine this project is measured on, oneDNN's inner
product (``torch.ops.mkldnn._linear_pointwise``, the kernel TorchInductor
emits for CPU linears) is 15-20 % faster for DL-DKD's shapes (10k rows x
3072 -> 384, 384 -> 1152); MKL keeps the weight gradient (``g^T x``),
where it is the faster of the two.  Both are float32 products; they
round differently (same order of error).

:func:`linear` is ``F.linear`` everywhere else: other devices, other dtypes,
under autocast, or a PyTorch build without oneDNN.
"""
from typing import Callable, Optional

import torch
import torch.nn.functional as F


def _onednn_kernel() -> Optional[Callable]:
    if not torch.backends.mkldnn.is_available():
        return None
    return getattr(torch.ops.mkldnn, '_linear_pointwise', None)


_ONEDNN = _onednn_kernel()


def onednn_linear_applies(x: torch.Tensor) -> bool:
    """Whether :func:`linear` sends ``x`` to oneDNN (CPU float32 without
    autocast, oneDNN built in)."""
    return (_ONEDNN is not None and x.device.type == 'cpu'
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled('cpu'))


def onednn_mm(x: torch.Tensor,
              weight: torch.Tensor,
              bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``x @ weight.T (+ bias)`` by oneDNN (2-D float32 CPU tensors, no
    autograd)."""
    return _ONEDNN(x, weight, bias, 'none', [], '')


class _OneDNNLinear(torch.autograd.Function):
    """2-D linear: forward and input gradient by oneDNN, weight gradient by
    MKL."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return onednn_mm(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad = grad.contiguous()
        grad_x = onednn_mm(grad, weight.t().contiguous()) if needs[0] else None
        grad_weight = grad.t().mm(x) if needs[1] else None
        grad_bias = grad.sum(0) if ctx.has_bias and needs[2] else None
        return grad_x, grad_weight, grad_bias


def linear(x: torch.Tensor,
           weight: torch.Tensor,
           bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear`` through oneDNN where :func:`onednn_linear_applies`.

    Args:
        x (Tensor): (..., Din) input.
        weight (Tensor): (Dout, Din).
        bias (Tensor, optional): (Dout,).

    Returns:
        Tensor: (..., Dout).
    """
    if not onednn_linear_applies(x) or weight.dtype != torch.float32:
        return F.linear(x, weight, bias)
    rows = x.reshape(-1, x.shape[-1])
    if not rows.is_contiguous():
        rows = rows.contiguous()
    out = _OneDNNLinear.apply(rows, weight, bias)
    return out.view(*x.shape[:-1], weight.shape[0])
