"""The precision probe: flags, the measured bf16 speed-up, and the
precision the tools default to."""
import pytest
import torch

from prvr_mm.errors import PRVRConfigError
from prvr_mm.utils import hardware


def test_forced_precision_is_honoured(monkeypatch):

    def fail():
        raise AssertionError('a forced precision must not run the probe')

    monkeypatch.setattr(hardware, 'bf16_speedup', fail)
    assert hardware.resolve_precision('fp32') == 'fp32'
    assert hardware.resolve_precision('bf16') == 'bf16'
    with pytest.raises(PRVRConfigError, match='fp16'):
        hardware.resolve_precision('fp16')


@pytest.mark.parametrize('speedup, expected', [(0.4, 'fp32'), (1.0, 'fp32'),
                                               (1.19, 'fp32'), (1.2, 'bf16'),
                                               (5.5, 'bf16')])
def test_auto_follows_the_measured_speedup(monkeypatch, speedup, expected):
    monkeypatch.setattr(hardware, 'bf16_speedup', lambda: speedup)
    assert hardware.resolve_precision('auto') == expected
    assert hardware.resolve_precision() == expected


def test_probe_measures_once_per_process():
    hardware.bf16_speedup.cache_clear()
    first = hardware.bf16_speedup(size=64, repeats=1)
    assert first > 0
    assert hardware.bf16_speedup(size=64, repeats=1) == first  # cached
    assert hardware.bf16_speedup.cache_info().hits >= 1


def test_host_flags_name_the_matrix_units():
    flags = hardware.host_flags()
    for name in ('avx512f', 'amx_bf16'):
        assert isinstance(flags[name], bool)
        assert flags[name] == (name in hardware.cpu_flags())
    assert flags['cores'] >= 1
    assert hardware.precision_dtype('bf16') == torch.bfloat16


class _Tower(torch.nn.Module):
    """Every kind of layer a frozen tower has: embedding, conv, attention,
    norm, linear and a bare projection parameter."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(50, 32)
        self.conv = torch.nn.Conv1d(32, 32, 3, padding=1)
        self.attn = torch.nn.MultiheadAttention(32, 4, batch_first=True)
        self.norm = torch.nn.LayerNorm(32)
        self.fc = torch.nn.Linear(32, 16)
        self.proj = torch.nn.Parameter(torch.randn(16, 8) / 4)

    def forward(self, ids):
        x = self.embed(ids)  # (N, T, 32)
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        x = x + self.attn(x, x, x, need_weights=False)[0]
        return (self.fc(self.norm(x)) @ self.proj).float()  # (N, T, 8)


def _frozen_tower():
    torch.manual_seed(0)
    return _Tower().eval().requires_grad_(False)


def test_cast_frozen_casts_the_matmul_weights_once():
    """bf16: Linear / Conv / attention weights in bf16, the rest float32;
    under autocast_context a float32-input forward agrees with fp32 (cosine
    >= 0.999 per vector); fp32 changes nothing."""
    ids = torch.randint(0, 50, (4, 12))
    ref_model = _frozen_tower()
    with torch.no_grad():
        ref = ref_model(ids)
    assert hardware.cast_frozen(ref_model, 'fp32') == 'fp32'
    assert all(p.dtype == torch.float32 for p in ref_model.parameters())

    model = _frozen_tower()
    assert hardware.cast_frozen(model, 'bf16') == 'bf16'
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    for name in ('conv.weight', 'conv.bias', 'attn.in_proj_weight',
                 'attn.in_proj_bias', 'attn.out_proj.weight', 'fc.weight'):
        assert dtypes[name] == torch.bfloat16, name
    for name in ('embed.weight', 'norm.weight', 'norm.bias', 'proj'):
        assert dtypes[name] == torch.float32, name
    with torch.no_grad(), hardware.autocast_context('bf16'):
        out = model(ids)
    assert out.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(out, ref, dim=-1)
    assert float(cos.min()) >= 0.999
    assert not torch.equal(out, ref)  # it really ran in bf16


def test_cast_frozen_refuses_trainable_modules():
    model = _Tower()  # requires grad
    with pytest.raises(ValueError, match='require grad'):
        hardware.cast_frozen(model, 'bf16')
    assert model.fc.weight.dtype == torch.float32


def test_auto_cast_follows_the_probe(monkeypatch):
    monkeypatch.setattr(hardware, 'bf16_speedup', lambda: 0.3)
    model = _frozen_tower()
    assert hardware.cast_frozen(model, 'auto') == 'fp32'
    assert model.fc.weight.dtype == torch.float32
    monkeypatch.setattr(hardware, 'bf16_speedup', lambda: 3.0)
    assert hardware.cast_frozen(model, 'auto') == 'bf16'
    assert model.fc.weight.dtype == torch.bfloat16


def test_autocast_context_fp32_switches_an_outer_autocast_off():
    """fp32 stays fp32 inside training's autocast (``--amp``); bf16 is
    bf16 inside or outside one."""
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.mm(a, b).dtype == torch.bfloat16  # the outer one
        with hardware.autocast_context('fp32'):
            assert torch.mm(a, b).dtype == torch.float32
    with hardware.autocast_context('bf16', 'cpu'):
        assert torch.mm(a, b).dtype == torch.bfloat16
    assert torch.mm(a, b).dtype == torch.float32
    with pytest.raises(PRVRConfigError, match='fp16'):
        hardware.autocast_context('fp16')
