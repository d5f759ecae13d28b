"""``--cfg-options`` values arrive as typed (spaces, non-ASCII) in every
tool that takes them, through the tools' own argument parsers."""
import importlib.util
import os.path as osp
import sys

import pytest
from mmengine.config import Config

from prvr_mm.utils.cfg_options import CfgOptionsAction
from tests.helpers.tools import ROOT
from tests.helpers.tools import TINY_TOY_CFG as CFG

PATH = '/data/my videos/tvr été'
OPTIONS = [
    f'data_root={PATH}', 'model.inheritance.hidden_dim=256',
    'train_cfg.max_epochs=3', 'x.ids=[1, 2]', 'x.pair=(a b, c)', 'x.flag=True',
    'x.none=None', 'x.name= padded '
]
EXPECTED = {
    'data_root': PATH,
    'model.inheritance.hidden_dim': 256,
    'train_cfg.max_epochs': 3,
    'x.ids': [1, 2],
    'x.pair': ('a b', 'c'),
    'x.flag': True,
    'x.none': None,
    'x.name': 'padded'
}


def _module(*parts):
    path = osp.join(ROOT, *parts)
    spec = importlib.util.spec_from_file_location(
        '_t_' + osp.splitext(parts[-1])[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(module, argv):
    old = sys.argv
    sys.argv = argv
    try:
        return module.parse_args()
    finally:
        sys.argv = old


@pytest.mark.parametrize('script,positional', [
    (('tools', 'train.py'), [CFG]),
    (('tools', 'test.py'), [CFG, 'ckpt.pth']),
    (('tools', 'analysis', 'plot_similarity.py'),
     [CFG, 'ckpt.pth', '--query', 'q#enc#0']),
])
def test_tools_keep_spaces(script, positional):
    args = _parse(
        _module(*script), [script[-1], *positional, '--cfg-options', *OPTIONS])
    assert args.cfg_options == EXPECTED


def test_demo_keeps_spaces():
    demo = _module('demo', 'prvr_search.py')
    args = demo.parse_args(
        [CFG, 'ckpt.pth', '--index', 'i.h5', '--cfg-options', *OPTIONS])
    assert args.cfg_options == EXPECTED


def test_train_merges_the_path_intact_into_every_dataset():
    train = _module('tools', 'train.py')
    args = _parse(train,
                  ['train.py', CFG, '--cfg-options', f'data_root={PATH}'])
    cfg = train.merge_args(Config.fromfile(CFG), args)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == PATH


def test_item_without_value_is_a_usage_error(capsys):
    import argparse
    parser = argparse.ArgumentParser(prog='train.py')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    with pytest.raises(SystemExit) as err:
        parser.parse_args(['--cfg-options', 'model.gather_negatives'])
    assert err.value.code == 2
    assert "'model.gather_negatives' is not key=value" in capsys.readouterr(
    ).err


def test_values_like_mmengine_otherwise():
    parse = CfgOptionsAction._parse_iterable
    assert parse('1,2,3') == [1, 2, 3]
    assert parse('[(1, 2, 3), [a, b], c]') == [(1, 2, 3), ['a', 'b'], 'c']
    assert parse("'quoted value'") == 'quoted value'
    assert parse('0.5') == 0.5
    assert parse('/a (copy)/b [1]') == '/a (copy)/b [1]'
    assert parse('/a(b') == '/a(b'  # unbalanced: not a list
