"""DynamicKDHook schedules and argument checks (its effect inside a real
Runner is covered by tests/test_tools/test_train_test_roundtrip.py)."""
import math
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub

from prvr_mm.engine import DynamicKDHook, kd_weight_at, target_param_at


def test_kd_schedules():
    assert kd_weight_at(3, 'exp', exp_k=0.95) == pytest.approx(0.95**3)
    assert kd_weight_at(200, 'linear') == pytest.approx(0.05)
    assert kd_weight_at(10, 'linear') == pytest.approx(0.9)
    assert kd_weight_at(
        8, 'sigmoid',
        sigmoid_k=800) == pytest.approx(800 / (800 + math.exp(1)))
    assert kd_weight_at(5, 'constant', init=0.0) == 0.0
    with pytest.raises(ValueError, match='cubic'):
        kd_weight_at(0, 'cubic')


def test_target_schedules_and_floors():
    assert target_param_at(
        0, 0.8, 'sigmoid', floor=0.0) == pytest.approx(0.8 * 800 / 801)
    # beta floor rule: 0.5 when init >= 0.5
    assert target_param_at(119, 0.8,
                           'linear') == pytest.approx(0.8 +
                                                      (0.5 - 0.8) / 120 * 119)
    assert target_param_at(500, 0.8, 'exp') == 0.5
    assert target_param_at(500, 0.3, 'exp') == pytest.approx(0.3 * 0.95**500)
    assert target_param_at(60, 0.8, 'cosine', floor=0.0) == pytest.approx(0.4)


class _Model:
    """Records what the hook hands to ``set_schedule``."""

    def set_schedule(self, **values):
        self.__dict__.update(values)


def test_hook_sets_model_values_and_logs():
    hook = DynamicKDHook(
        kd_decay='exp',
        alpha_decay='cosine',
        alpha_init=0.8,
        beta_decay='constant',
        beta_init=0.7)
    model = _Model()
    hub = MessageHub.get_instance('test_dynamic_kd_hook')
    runner = SimpleNamespace(
        model=model, epoch=2, max_epochs=10, message_hub=hub)
    hook.before_train_epoch(runner)
    assert model.kd_weight == pytest.approx(0.95**2)
    assert model.alpha == pytest.approx(0.4 * (1 + math.cos(math.pi * 0.2)))
    assert model.beta == pytest.approx(0.7)
    assert hub.get_scalar('train/kd_weight').current() == pytest.approx(
        0.95**2)


def test_hook_validates_arguments():
    with pytest.raises(ValueError, match='kd_decay'):
        DynamicKDHook(kd_decay='step')
    with pytest.raises(ValueError, match='beta_decay'):
        DynamicKDHook(beta_decay='warm')
