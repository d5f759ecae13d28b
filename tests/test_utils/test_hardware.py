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
