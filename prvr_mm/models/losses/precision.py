"""Loss inputs in at least float32: log-sum-exp, softmax and KL terms stay
exact under fp16 / bf16 autocast, float64 inputs stay float64."""
import torch


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is a lower-precision float (fp16, bf16),
    unchanged otherwise (float32, float64).

    Args:
        x (Tensor): any float tensor.

    Returns:
        Tensor: ``x`` in ``promote_types(x.dtype, float32)``.
    """
    return x.to(torch.promote_types(x.dtype, torch.float32))
