"""Parity of prvr_mm with the authors' DL-DKD / DL-DKD++ implementation.

The reference values in ``tests/data/dldkd_golden`` were produced by running
the authors' code (see the README there): their weights are converted with
``prvr_mm.utils.convert_dldkd`` and every loss term, gradient, intermediate
score, evaluation metric, data helper and schedule is compared.
"""
import copy
import importlib.util
import json
import os.path as osp
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.evaluator import Evaluator
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from mmengine.structures import BaseDataElement

from prvr_mm.datasets.transforms.functional import (average_to_fixed_length,
                                                    l2_normalize,
                                                    uniform_feature_sampling)
from prvr_mm.engine.hooks.dynamic_kd_hook import DynamicKDHook
from prvr_mm.engine.schedules import kd_weight_at, target_param_at
from prvr_mm.evaluation import retrieval_metrics
from prvr_mm.evaluation.metrics import PRVRMetric
from prvr_mm.models import masked_clip_scores
from prvr_mm.utils.convert_dldkd import (CheckpointConversionError,
                                         convert_key, convert_state_dict)
from tests.helpers.tools import ROOT

GOLDEN = Path(__file__).parents[1] / 'data' / 'dldkd_golden'
SETTINGS = ('hard', 'soft_a080_b080', 'soft_a050_b060', 'soft_a010_b050')
# prvr_mm loss key -> the authors' loss name
LOSS_NAMES = dict(
    loss_inher_trip='inher_trip',
    loss_inher_nce='inher_nce',
    loss_explore_trip='explore_trip',
    loss_explore_nce='explore_nce',
    loss_kd='kl_intra')
GRAD_TERMS = dict(
    inher_nce='loss_inher_nce',
    explore_nce='loss_explore_nce',
    kl_intra='loss_kd')
BRANCHES = ('inher', 'explore')
# authors' metric names -> PRVRMetric names
METRIC_NAMES = dict(
    r1='R@1',
    r5='R@5',
    r10='R@10',
    r100='R@100',
    medr='MedR',
    meanr='MnR',
    mAP='mAP',
    SumR='SumR')


# --------------------------------------------------------------- helpers
def _npz(name: str) -> dict:
    with np.load(GOLDEN / name) as data:
        return {k: data[k] for k in data.files}


def _json(name: str):
    return json.loads((GOLDEN / name).read_text())


def _assert_close(ours, ref, rtol, atol, what):
    ours = ours.detach().cpu().numpy() if torch.is_tensor(ours) else ours
    np.testing.assert_allclose(
        np.asarray(ours, dtype=np.float64),
        np.asarray(ref, dtype=np.float64),
        rtol=rtol,
        atol=atol,
        err_msg=what)


def build_model(share_query_proj=False, label_style='hard'):
    branch = dict(
        type='PRVRBranch',
        video_dim=64,
        query_dim=48,
        hidden_dim=32,
        max_ctx_l=16,
        max_desc_l=12,
        num_heads=4)
    return MODELS.build(
        dict(
            type='DualStudentRecognizer',
            inheritance=branch,
            teacher=dict(type='CLIPTeacherHead', feature_dim=16),
            loss_triplet=dict(
                type='TripletRankingLoss', margin=0.2, hard_pool_size=1),
            loss_nce=dict(type='InfoNCELoss', loss_weight=0.04),
            loss_distill=dict(
                type='FrameKLDistillLoss', temperature=0.2, loss_weight=0.1),
            label_style=label_style,
            share_query_proj=share_query_proj))


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread is faster (and immune to a busy
    machine); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def config():
    return _json('config.json')


@pytest.fixture(scope='module')
def authors_state():
    return {k: torch.from_numpy(v) for k, v in _npz('state_dict.npz').items()}


@pytest.fixture(scope='module')
def model(authors_state, config):
    torch.manual_seed(0)
    model = build_model()
    state = convert_state_dict(
        authors_state, expected=model.state_dict().keys())
    model.load_state_dict(state, strict=True)
    model.set_schedule(kd_weight=config['kd_weight'])
    return model.eval()


@pytest.fixture(scope='module')
def inputs():
    b = _npz('batch.npz')
    return dict(
        video=torch.from_numpy(b['student_videos']),
        video_mask=torch.from_numpy(b['student_videos_mask']),
        query=torch.from_numpy(b['student_text']),
        query_mask=torch.from_numpy(b['student_text_mask']),
        query_to_video=torch.from_numpy(b['text_labels']),
        teacher_video=torch.from_numpy(b['teacher_videos']),
        teacher_query=torch.from_numpy(b['teacher_text']))


def _setting(config, name):
    return next(s for s in config['settings'] if s['name'] == name)


def _apply_setting(model, setting, kd_weight):
    model.label_style = setting['label_style']
    model.set_schedule(
        kd_weight=kd_weight, alpha=setting['alpha'], beta=setting['belta'])


def _param_to_authors(authors_state):
    return {convert_key(k): k for k in authors_state}


# --------------------------------------------------------------- fixture
def test_fixture_is_complete():
    """Every file listed in the fixture README is there with its size."""
    readme = (GOLDEN / 'README.md').read_text()
    files = re.findall(r'^\* `([^`]+)` \((\d+) bytes\)$',
                       readme.split('## Files')[1], re.M)
    assert len(files) == 17
    for name, size in files:
        assert (GOLDEN / name).stat().st_size == int(size), name


def test_parameter_count(model, config):
    assert sum(p.numel() for p in model.parameters()) == \
        config['n_parameters'] == 29120


# ------------------------------------------------- losses and gradients
@pytest.mark.parametrize('name', SETTINGS)
def test_losses_and_gradients(model, inputs, config, authors_state, name):
    ref = _npz(f'forward_{name}.npz')
    ref_json = _json('losses.json')[name]['float32']
    _apply_setting(model, _setting(config, name), config['kd_weight'])
    model.zero_grad()
    losses = model.loss(inputs)
    total, log_vars = model.parse_losses(losses)  # the MMEngine sum
    for ours, theirs in LOSS_NAMES.items():
        _assert_close(losses[ours], ref[f'loss_{theirs}'], 1e-5, 1e-6, ours)
        assert ref_json[theirs] == pytest.approx(float(ref[f'loss_{theirs}']))
    _assert_close(losses['loss_kd'], ref['loss_kl'], 1e-5, 1e-6, 'kl')
    _assert_close(total, ref['loss_total'], 1e-5, 1e-6, 'total')
    assert log_vars['loss'].item() == pytest.approx(
        ref_json['total'], rel=1e-5)
    # only the five terms are summed (kd_weight/alpha/beta are logged)
    assert {k for k in log_vars if 'loss' in k} == {'loss', *LOSS_NAMES}

    total.backward()
    names = _param_to_authors(authors_state)
    params = dict(model.named_parameters())
    assert set(params) == set(names)
    for key, param in params.items():
        _assert_close(param.grad, ref[f'grad.{names[key]}'], 1e-4, 1e-6,
                      f'{name}: d total / d {key}')


def test_gradient_of_each_term(model, inputs, config, authors_state):
    """Gradient of each weighted term alone (DL-DKD++, alpha=beta=0.8)."""
    ref = _npz('forward_soft_a080_b080.npz')
    _apply_setting(model, _setting(config, 'soft_a080_b080'),
                   config['kd_weight'])
    names = _param_to_authors(authors_state)
    keys, params = zip(*model.named_parameters())
    losses = model.loss(inputs)

    def grads(loss):
        out = torch.autograd.grad(
            loss, params, retain_graph=True, allow_unused=True)
        return [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params, out)
        ]

    term_sum = [np.zeros(tuple(p.shape), np.float32) for p in params]
    for term, ours in GRAD_TERMS.items():
        for i, (key, grad) in enumerate(zip(keys, grads(losses[ours]))):
            _assert_close(grad, ref[f'grad_term.{term}.{names[key]}'], 1e-4,
                          1e-6, f'd {term} / d {key}')
            term_sum[i] += ref[f'grad_term.{term}.{names[key]}']
    # the triplet terms: the rest of the total gradient
    trip = grads(losses['loss_inher_trip'] + losses['loss_explore_trip'])
    for key, grad, rest in zip(keys, trip, term_sum):
        expected = ref[f'grad.{names[key]}'] - rest
        _assert_close(grad, expected, 1e-4, 2e-6, f'd trip / d {key}')


# ----------------------------------------------------------- intermediates
def test_intermediate_scores(model, inputs):
    ref = _npz('scores.npz')
    mask = inputs['video_mask']
    valid = mask.bool().t()[None].expand(inputs['query'].shape[0], -1, -1)
    with torch.no_grad():
        enc = model.encode(inputs)
        teacher = model.teacher(inputs['teacher_video'],
                                inputs['teacher_query'], mask)
    outputs = {}
    for name in BRANCHES:
        feats = enc[name]
        # all positions, padded ones included (computed, masked later)
        _assert_close(feats['clips'], ref[f'{name}_video_feat'], 1e-5, 1e-5,
                      f'{name} video feat')
        _assert_close(feats['query'], ref[f'{name}_query'], 1e-5, 1e-5,
                      f'{name} query')
        cos, frames = masked_clip_scores(feats['query'], feats['clips'], mask)
        raw, _ = masked_clip_scores(
            feats['query'], feats['clips'], mask, normalize=False)
        outputs[name] = (cos, frames, raw)
    outputs['teacher'] = (teacher['max_scores'], teacher['clip_scores'],
                          teacher['max_scores_unnorm'])
    for name, (cos, frames, raw) in outputs.items():
        _assert_close(cos, ref[f'{name}_max_scores'], 1e-5, 1e-6,
                      f'{name} max')
        _assert_close(raw, ref[f'{name}_max_scores_unnorm'], 1e-5, 1e-5,
                      f'{name} max unnorm')
        ref_frames = torch.from_numpy(ref[f'{name}_frame_scores'])
        _assert_close(frames[valid], ref_frames[valid], 1e-5, 1e-6,
                      f'{name} frame scores (valid frames)')
        # padded frames: -1e10 in the authors' code, the dtype min here
        assert bool((ref_frames[~valid] == -1e10).all())
        assert bool((frames[~valid] <= -1e30).all())


# ----------------------------------------------------------------- float64
def test_float64_forward_and_gradients(model, inputs, config, authors_state):
    ref_losses = _json('losses.json')
    ref_grads = _npz('forward64_soft_a080_b080.npz')
    model64 = copy.deepcopy(model).double()
    inputs64 = {
        k: v.double() if v.is_floating_point() else v
        for k, v in inputs.items()
    }
    names = _param_to_authors(authors_state)
    for name in SETTINGS:
        ref = ref_losses[name]['float64']
        _apply_setting(model64, _setting(config, name), config['kd_weight'])
        model64.zero_grad()
        losses = model64.loss(inputs64)
        total, _ = model64.parse_losses(losses)
        assert total.dtype == torch.float64
        for ours, theirs in LOSS_NAMES.items():
            assert losses[ours].item() == pytest.approx(
                ref[theirs], rel=1e-12, abs=1e-15), (name, ours)
        assert total.item() == pytest.approx(ref['total'], rel=1e-12)
        if name != 'soft_a080_b080':
            continue
        total.backward()
        for key, param in model64.named_parameters():
            expected = ref_grads[f'grad.{names[key]}']
            assert expected.dtype == np.float64
            scale = np.abs(expected).max()
            _assert_close(param.grad, expected, 1e-9, 1e-10 * scale + 1e-15,
                          f'float64 d total / d {key}')


# ------------------------------------------------------ soft vs hard InfoNCE
def test_soft_with_alpha_one_matches_hard(model, inputs, config):
    """alpha=1 keeps every row hard; the only difference left is the 1e-12
    smoothing inside the authors' video->text log, which is invisible in
    float32 on this batch (all videos have queries)."""
    _apply_setting(model, _setting(config, 'hard'), config['kd_weight'])
    with torch.no_grad():
        hard = model.loss(inputs)
        model.label_style = 'soft'
        model.set_schedule(alpha=1.0, beta=0.3)
        soft = model.loss(inputs)
    for key in LOSS_NAMES:
        assert soft[key].item() == pytest.approx(
            hard[key].item(), rel=1e-6), key


# -------------------------------------------------------------- evaluation
@pytest.fixture(scope='module')
def eval_small():
    return _npz('eval_small.npz'), _json('eval_small.json')


def _lengths_to_mask(lengths, max_len):
    return (torch.arange(max_len)[None] < lengths[:, None]).float()


def test_eval_encoding_and_scores(model, eval_small):
    ref, _ = eval_small
    v_len = torch.from_numpy(ref['video_lengths'])
    q_len = torch.from_numpy(ref['query_lengths'])
    video_mask = _lengths_to_mask(v_len, ref['video_feats'].shape[1])
    np.testing.assert_array_equal(video_mask.numpy(), ref['video_mask'])
    inputs = dict(
        video=torch.from_numpy(ref['video_feats']),
        video_mask=video_mask,
        query=torch.from_numpy(ref['query_feats']),
        query_mask=_lengths_to_mask(q_len, ref['query_feats'].shape[1]))
    with torch.no_grad():
        enc = model.encode(inputs)
    valid = video_mask.bool()
    scores = {}
    for name in BRANCHES:
        _assert_close(enc[name]['clips'][valid],
                      ref[f'{name}_video_feat'][valid.numpy()], 1e-5, 1e-5,
                      f'{name} eval video feat (valid clips)')
        scores[name], _ = masked_clip_scores(enc[name]['query'],
                                             enc[name]['clips'], video_mask)
        _assert_close(scores[name], ref[f'{name}_scores'], 1e-5, 1e-6,
                      f'{name} scores')
    fused = 0.7 * scores['inher'] + 0.3 * scores['explore']
    _assert_close(fused, ref['fused_scores'], 1e-5, 1e-6, 'fused scores')


def test_eval_metrics_through_prvr_metric(model, eval_small):
    """model.test_step (PRVRDataPreprocessor + predict) -> PRVRMetric, in
    batches of 4 videos like the authors' eval_context_bsz."""
    ref, meta = eval_small
    v_len, q_len = ref['video_lengths'], ref['query_lengths']
    owner = ref['query_video_index']
    metric = PRVRMetric(fusion_weight=0.7, device='cpu')
    evaluator = Evaluator([metric])
    num_videos = len(meta['video_ids'])
    for start in range(0, num_videos, 4):
        videos, queries, lengths, samples = [], [], [], []
        for v in range(start, min(start + 4, num_videos)):
            rows = np.flatnonzero(owner == v)
            max_q = int(q_len[rows].max())
            videos.append(torch.from_numpy(ref['video_feats'][v, :v_len[v]]))
            queries.append(torch.from_numpy(ref['query_feats'][rows, :max_q]))
            lengths.append(torch.from_numpy(q_len[rows]))
            samples.append(
                BaseDataElement(
                    metainfo=dict(
                        video_id=meta['video_ids'][v],
                        query_ids=[meta['cap_ids'][r] for r in rows])))
        data = dict(
            inputs=dict(video=videos, queries=queries, query_lengths=lengths),
            data_samples=samples)
        outputs = model.test_step(data)
        evaluator.process(data_samples=outputs, data_batch=data)

    # rows of the metric are video by video = the dataset order here
    query_ids = [q for r in metric.results for q in r['query_ids']]
    assert query_ids == meta['cap_ids']
    matrices = metric.score_matrices(metric.results)
    for name in ('inher', 'explore', 'fused'):
        _assert_close(matrices[name], ref[f'{name}_scores'], 1e-5, 1e-6,
                      f'metric {name} scores')

    results = evaluator.evaluate(num_videos)
    for branch, values in meta['metrics'].items():
        for theirs, ours in METRIC_NAMES.items():
            key = f'prvr/{ours}' if branch == 'fused' else \
                f'prvr/{branch}/{ours}'
            assert results[key] == pytest.approx(values[theirs], rel=1e-9), key


def test_metric_functions_random():
    ref = _npz('metrics_random.npz')
    expected = _json('metrics_random.json')
    ours = retrieval_metrics(
        torch.from_numpy(ref['scores'].astype(np.float64)),
        torch.from_numpy(ref['gt']))
    for theirs, name in METRIC_NAMES.items():
        if theirs in expected:
            assert ours[name] == pytest.approx(
                expected[theirs], rel=1e-9), name


# ------------------------------------------------------------ data helpers
def test_data_helpers():
    ref = _npz('data_helpers.npz')
    for n in (5, 16, 17, 37, 100):
        out = uniform_feature_sampling(ref[f'ufs_in_{n}'], 16)
        assert out.dtype == np.float32
        _assert_close(out, ref[f'ufs_out_{n}_max16'], 1e-6, 1e-6, f'ufs {n}')
    _assert_close(
        uniform_feature_sampling(ref['ufs_in_37'], None),
        ref['ufs_out_37_maxNone'], 0, 0, 'ufs max_len=None')
    inputs = {5: 'ufs_in_5', 16: 'ufs_in_16', 37: 'ufs_in_37'}
    for n, key in inputs.items():
        _assert_close(
            average_to_fixed_length(ref[key], 16), ref[f'avg_out_{n}_map16'],
            1e-6, 1e-6, f'average_to_fixed_length {n}')
    _assert_close(l2_normalize(ref['l2_in']), ref['l2_out'], 1e-6, 1e-7, 'l2')
    _assert_close(
        l2_normalize(ref['l2_in_3d']), ref['l2_out_3d'], 1e-6, 1e-7, 'l2 3d')


# --------------------------------------------------------------- schedules
def _decay(name):
    return 'constant' if name == 'None' else name


def test_schedules():
    ref = _json('schedules.json')
    epochs, n_epoch = ref['epochs'], ref['n_epoch']
    assert epochs == list(range(120)) and n_epoch == 120
    p = ref['params']
    kd_kwargs = dict(
        exp_k=p['exponential_k'],
        linear_k=p['linear_k'],
        linear_b=p['linear_b'],
        sigmoid_k=p['sigmoid_k'])
    for decay, values in ref['distill_weight'].items():
        hook = DynamicKDHook(kd_decay=_decay(decay), **kd_kwargs)
        for e, value in zip(epochs, values):
            assert kd_weight_at(e, _decay(decay), **kd_kwargs) == \
                pytest.approx(value, rel=1e-12, abs=1e-12), (decay, e)
            assert hook.values_at(e, n_epoch)['kd_weight'] == pytest.approx(
                value, rel=1e-12, abs=1e-12), (decay, e)
    for param, floor in (('alpha', 0.0), ('belta', None)):
        ours = 'alpha' if param == 'alpha' else 'beta'
        for key, values in ref[param].items():
            decay, init = key.split('_init')
            decay, init = _decay(decay), float(init)
            hook = DynamicKDHook(
                **{
                    f'{ours}_decay': decay,
                    f'{ours}_init': init
                },
                exp_k=p['exponential_k'],
                target_sigmoid_k=p['selfDistil_sigmoid_k'])
            for e, value in zip(epochs, values):
                direct = target_param_at(
                    e,
                    init,
                    decay,
                    floor,
                    max_epochs=n_epoch,
                    exp_k=p['exponential_k'],
                    sigmoid_k=p['selfDistil_sigmoid_k'])
                assert direct == pytest.approx(
                    value, rel=1e-12, abs=1e-12), (param, key, e)
                assert hook.values_at(e, n_epoch)[ours] == pytest.approx(
                    value, rel=1e-12, abs=1e-12), (param, key, e)


def test_dynamic_kd_hook_sets_model_values(model):
    ref = _json('schedules.json')
    hook = DynamicKDHook(
        kd_decay='exp', alpha_decay='sigmoid', beta_decay='sigmoid')
    runner = SimpleNamespace(
        model=model,
        epoch=3,
        max_epochs=120,
        message_hub=MessageHub.get_instance('test_dldkd_parity'))
    hook.before_train_epoch(runner)
    assert model.kd_weight == pytest.approx(
        ref['distill_weight']['exp'][3], rel=1e-12)
    assert model.alpha == pytest.approx(
        ref['alpha']['sigmoid_init0.8'][3], rel=1e-12)
    assert model.beta == pytest.approx(
        ref['belta']['sigmoid_init0.8'][3], rel=1e-12)


# ------------------------------------------------------ checkpoint converter
@pytest.fixture(scope='module')
def converter():
    path = osp.join(ROOT, 'tools', 'model_converters', 'dldkd_to_prvr_mm.py')
    spec = importlib.util.spec_from_file_location('dldkd_to_prvr_mm', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _iccv_naming(authors_state):
    """The ICCV 2023 release names: B_ = inheritance, A_ = exploration,
    frame_* / mapping_linear on the video side, plus the exploration query
    projection that their forward never uses."""
    out = {}
    for key, value in authors_state.items():
        if key.startswith('exp_query_input_proj.'):
            continue
        prefix = 'A_' if key.startswith('exp_') else 'B_'
        key = key[len('exp_'):] if key.startswith('exp_') else key
        key = key.replace('visual_', 'frame_').replace('out_mapping_linear',
                                                       'mapping_linear')
        out[prefix + key] = value
    for key, value in authors_state.items():
        if key.startswith('query_input_proj.'):
            out['A_' + key] = torch.randn_like(value)  # unused by the model
    return out


def _check_equal_state(model, state):
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_converter_cli_master(tmp_path, converter, authors_state, model):
    src, dst = tmp_path / 'authors.pth', tmp_path / 'prvr.pth'
    # the authors' train.py layout, with DataParallel's prefix
    torch.save(
        dict(
            model={
                f'module.{k}': v
                for k, v in authors_state.items()
            },
            epoch=7), src)
    converter.main([str(src), str(dst)])
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['converted_from'] == str(src)
    assert ckpt['meta']['source_naming'] == 'master'
    fresh = build_model()
    load_checkpoint(fresh, str(dst), strict=True)  # what tools/test.py does
    _check_equal_state(fresh, model.state_dict())


def test_converter_cli_untrusted_pickle(tmp_path, converter, authors_state,
                                        monkeypatch):
    """The authors' checkpoints also pickle their EasyDict config, which
    weights-only loading refuses: read without importing that class."""
    pkg = tmp_path / 'fake_easydict'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('class EasyDict(dict):\n'
                                     '    def __setattr__(self, k, v):\n'
                                     '        super().__setattr__(k, v)\n'
                                     '        self[k] = v\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_easydict
    cfg = fake_easydict.EasyDict()
    cfg.max_ctx_l = 16
    src, dst = tmp_path / 'authors.pth', tmp_path / 'prvr.pth'
    torch.save(dict(model=authors_state, model_cfg=cfg, epoch=3), src)
    monkeypatch.delitem(sys.modules, 'fake_easydict')
    (pkg / '__init__.py').write_text('raise RuntimeError("imported")\n')
    converter.main([str(src), str(dst)])
    state = torch.load(dst, weights_only=True)['state_dict']
    assert len(state) == len(authors_state)


def test_converter_cli_with_config(tmp_path, converter, authors_state):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "model = dict(type='DualStudentRecognizer', inheritance=dict("
        "type='PRVRBranch', video_dim=64, query_dim=48, hidden_dim=32, "
        'max_ctx_l=16, max_desc_l=12, num_heads=4), '
        "teacher=dict(type='CLIPTeacherHead', feature_dim=16))\n")
    src, dst = tmp_path / 'authors.pth', tmp_path / 'prvr.pth'
    torch.save(dict(model=authors_state), src)
    converter.main([str(src), str(dst), '--config', str(cfg)])
    assert dst.exists()

    # shape mismatch: both shapes named
    bad = dict(authors_state)
    bad['out_mapping_linear.bias'] = torch.zeros(31)
    torch.save(bad, src)  # a raw state dict is accepted too
    with pytest.raises(SystemExit) as err:
        converter.main([str(src), str(dst), '--config', str(cfg)])
    msg = str(err.value.code)
    assert 'inheritance.clip_proj.bias' in msg and '(31,)' in msg \
        and '(32,)' in msg

    # missing key
    bad = {
        k: v
        for k, v in authors_state.items()
        if k != 'exp_modular_vector_mapping.weight'
    }
    torch.save(dict(model=bad), src)
    with pytest.raises(SystemExit) as err:
        converter.main([str(src), str(dst), '--config', str(cfg)])
    assert 'exploration.query_pool.score.weight' in str(err.value.code)

    # --iccv disagrees with the config's model
    torch.save(dict(model=authors_state), src)
    with pytest.raises(SystemExit) as err:
        converter.main([str(src), str(dst), '--config', str(cfg), '--iccv'])
    assert 'share_query_proj' in str(err.value.code)


def test_converter_unknown_key(tmp_path, converter, authors_state):
    src, dst = tmp_path / 'authors.pth', tmp_path / 'prvr.pth'
    state = dict(authors_state)
    state['exp_fancy_head.weight'] = torch.zeros(3)
    torch.save(dict(model=state), src)
    with pytest.raises(SystemExit) as err:
        converter.main([str(src), str(dst)])
    assert 'exp_fancy_head.weight' in str(err.value.code)
    assert not dst.exists()
    with pytest.raises(CheckpointConversionError, match='exp_fancy_head'):
        convert_state_dict(state)


def test_converter_missing_key_without_config(tmp_path, converter,
                                              authors_state):
    src, dst = tmp_path / 'authors.pth', tmp_path / 'prvr.pth'
    dropped = 'exp_visual_encoder.self.key.bias'
    state = {k: v for k, v in authors_state.items() if k != dropped}
    torch.save(dict(model=state), src)
    with pytest.raises(SystemExit) as err:
        converter.main([str(src), str(dst)])
    assert 'exploration.video_encoder.key.bias' in str(err.value.code)
    assert not dst.exists()
    # an inheritance-only (double_branch=False) checkpoint is complete
    single = {k: v for k, v in authors_state.items() if 'exp_' not in k}
    torch.save(dict(model=single), src)
    converter.main([str(src), str(dst)])
    assert len(torch.load(dst, weights_only=True)['state_dict']) == 37


def test_convert_missing_and_unexpected_keys(authors_state, model):
    expected = model.state_dict().keys()
    partial = {k: v for k, v in authors_state.items() if 'exp_' not in k}
    with pytest.raises(CheckpointConversionError, match='lacks 37'):
        convert_state_dict(partial, expected=expected)
    # an exploration query projection of its own cannot be shared
    with pytest.raises(
            CheckpointConversionError, match='exploration.query_proj'):
        convert_state_dict(authors_state, share_query_proj=True)


# ------------------------------------------------------------ ICCV variant
@pytest.mark.parametrize('naming', ['master_without_exp_query_proj', 'iccv'])
def test_iccv_variant(naming, authors_state, model, inputs, converter,
                      tmp_path):
    if naming == 'iccv':
        state = _iccv_naming(authors_state)
        assert 'A_query_input_proj.net.1.weight' in state
        assert 'B_frame_encoder.self.query.weight' in state
        # their ICCV model needs the shared projection
        with pytest.raises(
                CheckpointConversionError, match='share_query_proj=True'):
            convert_state_dict(state)
    else:
        state = {
            k: v
            for k, v in authors_state.items()
            if not k.startswith('exp_query_input_proj.')
        }
    shared = build_model(share_query_proj=True)
    assert shared.exploration.query_proj is shared.inheritance.query_proj
    assert sum(
        p.numel()
        for p in shared.parameters()) == 29120 - (48 + 48 + 32 * 48 + 32)
    converted = convert_state_dict(
        state, expected=shared.state_dict().keys(), share_query_proj=True)
    shared.load_state_dict(converted, strict=True)
    shared.eval()
    assert shared.exploration.query_proj is shared.inheritance.query_proj

    # same as the separate-projection model whose exploration query
    # projection is replaced by the inheritance one
    reference = copy.deepcopy(model)
    reference.exploration.query_proj.load_state_dict(
        reference.inheritance.query_proj.state_dict())
    with torch.no_grad():
        ours, theirs = shared.encode(inputs), reference.encode(inputs)
    for name in BRANCHES:
        for key in ('query', 'clips'):
            assert torch.equal(ours[name][key], theirs[name][key]), (name, key)

    # and through the command line tool + MMEngine's loader
    src, dst = tmp_path / 'authors.pth', tmp_path / 'prvr.pth'
    torch.save(dict(model=state), src)
    converter.main([str(src), str(dst), '--iccv'])
    fresh = build_model(share_query_proj=True)
    load_checkpoint(fresh, str(dst), strict=True)
    assert fresh.exploration.query_proj is fresh.inheritance.query_proj
    _check_equal_state(fresh, shared.state_dict())
