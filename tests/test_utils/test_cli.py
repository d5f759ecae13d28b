"""The tools' shared command-line helpers: run_tool (one error line, exit
status 2, traceback with --debug), merge_config_options, start_launcher."""
import pytest
from mmengine.config import Config

from prvr_mm.errors import PRVRConfigError, PRVRDataError
from prvr_mm.utils.cli import (USER_ERROR_STATUS, merge_config_options,
                               run_tool, start_launcher)


def _fail(exc):

    def main():
        raise exc

    return main


def test_user_error_is_one_line_and_status_2(capsys):
    with pytest.raises(SystemExit) as err:
        run_tool(_fail(PRVRDataError('caption file not found: x.txt')), [])
    assert err.value.code == USER_ERROR_STATUS == 2
    captured = capsys.readouterr()
    assert captured.err == 'error: caption file not found: x.txt\n'
    assert 'Traceback' not in captured.err and captured.out == ''


def test_debug_keeps_the_traceback():
    with pytest.raises(PRVRConfigError, match='bad value'):
        run_tool(_fail(PRVRConfigError('bad value')), ['cfg.py', '--debug'])


def test_other_errors_are_bugs_and_propagate():
    with pytest.raises(KeyError):
        run_tool(_fail(KeyError('bug')), [])


def test_returns_what_main_returns():
    assert run_tool(lambda: 7, []) == 7


def test_merge_config_options_edits_the_config_only():
    cfg = Config(
        dict(
            train_dataloader=dict(dataset=dict(data_root='a')),
            val_dataloader=dict(dataset=dict(data_root='a'))))
    merge_config_options(cfg, dict(data_root='/data/b'), 'configs/x_y.py')
    assert cfg.train_dataloader.dataset.data_root == '/data/b'
    assert cfg.val_dataloader.dataset.data_root == '/data/b'
    assert cfg.work_dir == './work_dirs/x_y'
    assert 'launcher' not in cfg


def test_start_launcher_records_the_launcher():
    cfg = Config(dict())
    assert start_launcher(cfg, 'none') is False
    assert cfg.launcher == 'none'


def test_data_root_moves_datasets_and_the_text_encoder_with_spaces():
    """``--cfg-options "data_root=/data/my videos"``: every dataset and a
    text encoder reading from the root (the toy's vocabulary) move, the
    value intact; a text encoder without a root is left alone."""
    from mmengine.config import Config

    from prvr_mm.utils.cli import merge_config_options
    cfg = Config(
        dict(
            train_dataloader=dict(dataset=dict(data_root='data/toy')),
            test_dataloader=dict(dataset=dict(data_root='data/toy')),
            text_encoder=dict(type='ToyTextEncoder', data_root='data/toy')))
    merge_config_options(cfg, {'data_root': '/data/my videos'}, 'c.py')
    assert cfg.train_dataloader.dataset.data_root == '/data/my videos'
    assert cfg.test_dataloader.dataset.data_root == '/data/my videos'
    assert cfg.text_encoder.data_root == '/data/my videos'
    other = Config(dict(text_encoder=dict(type='OpenCLIPTextEncoder')))
    merge_config_options(other, {'data_root': '/x'}, 'c.py')
    assert 'data_root' not in other.text_encoder
