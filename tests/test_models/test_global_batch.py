"""``DualStudentRecognizer(gather_negatives=True)``: 2 processes on gloo
(launched for real with torchrun, models wrapped in DDP) give the loss and
the DDP-averaged gradients of ONE process on the whole batch, for hard and
soft (DL-DKD++) targets, unequal per-rank batch sizes and clip counts.

This file is also the worker: ``torchrun ... test_global_batch.py OUT``.
"""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BRANCH = dict(
    type='PRVRBranch',
    video_dim=12,
    query_dim=10,
    hidden_dim=8,
    max_ctx_l=6,
    max_desc_l=5,
    num_heads=2,
    input_dropout=0.0,
    dropout=0.0)
# videos of ONE global batch in sampler order: (queries, clips); equal
# query counts across ranks test the tie order of the soft-target rows
VIDEOS = ((2, 6), (1, 3), (3, 4), (1, 5), (2, 2), (2, 6), (1, 4))
CASES = dict(
    hard=dict(
        model=dict(label_style='hard'),
        schedule=dict(kd_weight=1.0),
        split=(4, 3)),
    soft=dict(
        model=dict(label_style='soft'),
        schedule=dict(alpha=0.5, beta=0.6, kd_weight=0.9),
        split=(5, 2)))


def build(gather: bool, case: str):
    from mmaction.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='DualStudentRecognizer',
            inheritance=BRANCH,
            teacher=dict(type='CLIPTeacherHead', feature_dim=4),
            loss_triplet=dict(type='TripletRankingLoss', hard_pool_size=1),
            gather_negatives=gather,
            **CASES[case]['model']))
    model.init_weights()
    model.set_schedule(**CASES[case]['schedule'])
    return model


def samples():
    """The videos of :data:`VIDEOS` as ``PackPRVRInputs`` outputs."""
    g = torch.Generator().manual_seed(1)
    out = []
    for n, t in VIDEOS:
        q_len = torch.randint(2, 6, (n, ), generator=g)
        out.append(
            dict(
                video=torch.randn(t, 12, generator=g),
                queries=torch.randn(n, 5, 10, generator=g),
                query_lengths=q_len,
                teacher_video=torch.randn(t, 4, generator=g),
                teacher_queries=torch.randn(n, 4, generator=g)))
    return out


def owners(split):
    """(rank, local index) of each global sampler position: rank ``r``'s
    ``j``-th sample is at position ``j * world + r``."""
    world = len(split)
    keyed = sorted(
        (j * world + r, r, j) for r, n in enumerate(split) for j in range(n))
    return [(r, j) for _, r, j in keyed]


def collate(items):
    keys = items[0].keys()
    return dict(inputs={k: [it[k] for it in items] for k in keys})


def step(model, data):
    """Losses (floats) and gradients of one training step."""
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    module = getattr(model, 'module', model)
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    return {k: float(v.detach()) for k, v in losses.items()}, grads


def single_process(case):
    model = build(False, case)
    items = samples()
    data = model.data_preprocessor(collate(items), training=True)
    return step(model, data)


def worker(out_dir):
    import torch.distributed as dist
    from mmengine.registry import init_default_scope

    import prvr_mm  # noqa: F401
    init_default_scope('mmaction')
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    results = {}
    for case, spec in CASES.items():
        items = samples()
        local = [
            items[k] for k, (r, _) in enumerate(owners(spec['split']))
            if r == rank
        ]
        model = build(True, case)
        assert not model.data_preprocessor.sort_by_queries
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        data = model.data_preprocessor(collate(local), training=True)
        results[case] = step(ddp, data)
    torch.save(results, osp.join(out_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_owners_follow_the_default_sampler():
    # DefaultSampler deals indices[r::world] to rank r
    assert owners((2, 2)) == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert owners((3, 1)) == [(0, 0), (1, 0), (0, 1), (0, 2)]


def test_gather_on_one_process_equals_plain_loss():
    """World size 1: gathering is the identity and the recognizer's global
    sort reproduces the data preprocessor's."""
    for case, spec in CASES.items():
        ref_losses, ref_grads = single_process(case)
        model = build(True, case)
        data = model.data_preprocessor(collate(samples()), training=True)
        losses, grads = step(model, data)
        for key, value in ref_losses.items():
            assert abs(losses[key] - value) <= 1e-6 * max(1, abs(value)), \
                (case, key)
        for name, grad in ref_grads.items():
            assert torch.allclose(
                grads[name], grad, rtol=1e-4, atol=1e-6), name


def test_two_ranks_equal_one_process_on_the_global_batch(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--nnodes=1', '--master_addr=127.0.0.1',
        f'--master_port={free_port()}', __file__,
        str(tmp_path)
    ],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [
        torch.load(tmp_path / f'rank{r}.pth', weights_only=True)
        for r in range(2)
    ]
    for case in CASES:
        ref_losses, ref_grads = single_process(case)
        assert ref_losses['loss_kd'] > 0
        for rank in ranks:
            losses, grads = rank[case]
            # every rank computes the single-process loss ...
            for key, value in ref_losses.items():
                assert abs(losses[key] - value) <= 1e-5 * max(1, abs(value)), \
                    (case, key, losses[key], value)
            # ... and DDP's averaged gradient is the single-process one
            for name, grad in ref_grads.items():
                assert torch.allclose(
                    grads[name], grad, rtol=1e-4, atol=1e-6), (case, name)
            assert any(g.abs().max() > 0 for g in grads.values())


if __name__ == '__main__':
    worker(sys.argv[1])
