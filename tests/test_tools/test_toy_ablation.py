"""tools/analysis/toy_ablation.py: its configs and its table (no training:
the trainings themselves are the README's measured run)."""
import importlib.util
import json
import os.path as osp

import pytest
from mmaction.registry import MODELS
from mmengine.config import Config

from tests.helpers.tools import ROOT, tool

TOOL = tool('analysis', 'toy_ablation.py')


def _load():
    spec = importlib.util.spec_from_file_location('toy_ablation', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ablation = _load()
BOTH = ('inher', 'explore')
EXPECTED = {
    'Exploration only': ('explore', ),
    'Inheritance only': ('inher', ),
    'Both branches, no KD': BOTH,
    'DL-DKD': BOTH,
    'DL-DKD++': BOTH
}


@pytest.mark.parametrize('label,name', ablation.ROWS)
def test_rows_are_toy_configs_with_the_right_branches(label, name):
    config = osp.join(ROOT, 'configs', 'toy', name)
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    assert tuple(model.branches) == ablation.branches_of(config)
    expected = EXPECTED[label]
    assert tuple(model.branches) == expected
    kd_hooks = [h for h in cfg.custom_hooks if h.type == 'DynamicKDHook']
    distils = bool(kd_hooks) and kd_hooks[0].get('kd_decay') != 'constant'
    assert distils == ('inher' in expected and 'no KD' not in label)
    assert (model.teacher is None) == ('inher' not in expected)
    assert model.label_style == ('soft' if label == 'DL-DKD++' else 'hard')


def test_table_from_earlier_runs(tmp_path, capsys):
    fused = {
        'prvr/R@1': 9.0,
        'prvr/SumR': 300.0,
        'prvr/inher/SumR': 250.0,
        'prvr/explore/SumR': 200.0,
        'random/SumR': 23.2
    }
    single = {'prvr/R@1': 5.0, 'prvr/SumR': 210.0, 'random/SumR': 23.2}
    for label, name in ablation.ROWS:
        for seed, shift in ((0, 0.0), (1, 10.0)):
            metrics = fused if 'only' not in label else single
            out = ablation.run_dir(str(tmp_path), name, seed)
            (tmp_path / osp.relpath(out, str(tmp_path))).mkdir(parents=True)
            with open(osp.join(out, 'test_metrics.json'), 'w') as f:
                json.dump({k: v + shift for k, v in metrics.items()}, f)
    ablation.main(
        ['--work-dir',
         str(tmp_path), '--seeds', '0', '1', '--no-train'])
    printed = capsys.readouterr().out
    lines = printed.strip().splitlines()
    assert lines[0] == ablation.HEADER
    rows = {line.split(' | ')[0][2:]: line for line in lines[2:]}
    assert rows['Exploration only'] == (
        '| Exploration only | — | 215.0 ± 7.1 | — | 10.0 ± 7.1 | '
        '28.2 ± 7.1 |')
    assert rows['Inheritance only'].startswith(
        '| Inheritance only | 215.0 ± 7.1 | — | — |')
    assert rows['DL-DKD'] == ('| DL-DKD | 255.0 ± 7.1 | 205.0 ± 7.1 | '
                              '305.0 ± 7.1 | 14.0 ± 7.1 | 28.2 ± 7.1 |')
    with open(tmp_path / 'ablation.md') as f:
        assert f.read().strip() == printed.strip()
    with open(tmp_path / 'ablation.json') as f:
        saved = json.load(f)
    assert [r['label'] for r in saved['rows']] == [r for r, _ in ablation.ROWS]


def test_missing_runs_are_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='test_metrics.json not found'):
        ablation.main(['--work-dir', str(tmp_path), '--no-train'])
