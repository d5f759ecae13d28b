"""The authors-style reference step of the benchmarks computes the same
losses as the authors' code (the golden fixture of tests/test_parity)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.reference_step import AuthorsStyleDLDKD

GOLDEN = Path(__file__).resolve().parents[1] / 'data' / 'dldkd_golden'

TERMS = dict(
    loss_inher_trip='inher_trip',
    loss_inher_nce='inher_nce',
    loss_explore_trip='explore_trip',
    loss_explore_nce='explore_nce',
    loss_kd='kl_intra')


@pytest.mark.parametrize('setting',
                         ['hard', 'soft_a080_b080', 'soft_a010_b050'])
def test_reference_step_reproduces_golden_losses(setting):
    config = json.loads((GOLDEN / 'config.json').read_text())
    opts = next(s for s in config['settings'] if s['name'] == setting)
    model = AuthorsStyleDLDKD(
        video_dim=64,
        query_dim=48,
        hidden=32,
        max_ctx_l=16,
        max_desc_l=12,
        margin=0.2,
        hard_pool_size=1,
        label_style=opts['label_style'],
        alpha=opts['alpha'],
        beta=opts['belta'],
        kd_weight=config['kd_weight'])
    with np.load(GOLDEN / 'state_dict.npz') as state:
        model.load_state_dict(
            {k: torch.from_numpy(state[k])
             for k in state.files})
    with np.load(GOLDEN / 'batch.npz') as b:
        batch = dict(
            video=torch.from_numpy(b['student_videos']),
            video_mask=torch.from_numpy(b['student_videos_mask']),
            query=torch.from_numpy(b['student_text']),
            query_mask=torch.from_numpy(b['student_text_mask']),
            query_to_video=torch.from_numpy(b['text_labels']),
            teacher_video=torch.from_numpy(b['teacher_videos']),
            teacher_query=torch.from_numpy(b['teacher_text']))
    with torch.no_grad():
        losses = model.eval()(batch)
    with np.load(GOLDEN / f'forward_{setting}.npz') as ref:
        for ours, theirs in TERMS.items():
            np.testing.assert_allclose(
                float(losses[ours]),
                float(ref[f'loss_{theirs}']),
                rtol=1e-5,
                atol=1e-6,
                err_msg=ours)
        np.testing.assert_allclose(
            float(losses['loss']), float(ref['loss_total']), rtol=1e-5)
