"""The roofline helpers of the benchmarks: the FLOP model against what the
real step executes, the sustained GEMM run and its fields."""
import argparse
import statistics
import time

import pytest
import torch

from benchmarks import roofline, train_step

SMALL = dict(
    num_videos=6,
    queries_per_video=2,
    max_clips=12,
    video_dim=40,
    max_tokens=5,
    query_dim=24,
    teacher_dim=16,
    hidden_dim=32,
    num_heads=4,
    hard_pool_size=3)


def test_step_flops_account_for_what_the_step_executes(monkeypatch):
    """Without padding our step executes exactly the counted useful work
    except the dense backward of the query x clip products, which it
    replaces by ``embedding_bag`` sums (two products per branch)."""
    for key, value in SMALL.items():
        monkeypatch.setitem(train_step.TVR, key, value)
    device = torch.device('cpu')
    batch = train_step.make_batch(device, full=True)
    args = argparse.Namespace(label_style='soft', amp=None, compile=False)
    step = train_step.ours_step(device, dict(inputs=batch), args)
    useful = train_step.useful_flops(batch)
    flops = roofline.step_flops(batch['video_mask'].sum(1),
                                batch['query_mask'].sum(1), SMALL['video_dim'],
                                SMALL['query_dim'], SMALL['hidden_dim'],
                                SMALL['teacher_dim'])
    assert useful == flops['total']
    assert flops['total'] == 3 * flops['forward'] + flops['teacher']
    clips = SMALL['num_videos'] * SMALL['max_clips']
    num_q = SMALL['num_videos'] * SMALL['queries_per_video']
    score_backward = 2 * (2 * 2 * num_q * clips * SMALL['hidden_dim'])
    assert roofline.counted_flops(step) == useful - score_backward


def test_sustained_matmul_runs_as_long_as_asked():
    start = time.perf_counter()
    gflops = roofline.sustained_matmul_gflops(
        torch.device('cpu'), 0.3, size=128)
    elapsed = time.perf_counter() - start
    assert elapsed >= 0.3
    assert 0 < gflops < float('inf')
    # one GEMM at least, however short the time asked for
    assert roofline.sustained_matmul_gflops(
        torch.device('cpu'), 0.0, size=64) > 0


def test_sustained_fields_are_medians():
    line = roofline.sustained_fields([0.5, 0.7, 0.6], [100.0, 130.0, 110.0])
    assert line == 'sustained_gflops=110.0 pct_sustained=60.0'
    with pytest.raises(statistics.StatisticsError):  # nothing measured
        roofline.sustained_fields([], [])
