"""CPU priority of the training loader's worker processes."""
import os
from typing import Callable, Optional, Union

from mmaction.registry import HOOKS
from mmengine.hooks import Hook

AUTO = 'auto'
#: niceness increment of CPU training workers with ``nice='auto'``
CPU_WORKER_NICE = 10


class NicedWorkerInit:
    """A loader's ``worker_init_fn`` that first runs the original one
    (MMEngine's seeding) and then raises the worker's niceness.

    Picklable (a module-level class), so ``spawn`` workers get it too.

    Args:
        init_fn (callable, optional): the loader's own ``worker_init_fn``.
        nice (int): niceness increment (``os.nice``), > 0.
    """

    def __init__(self, init_fn: Optional[Callable], nice: int) -> None:
        self.init_fn = init_fn
        self.nice = nice

    def __call__(self, worker_id: int) -> None:
        if self.init_fn is not None:
            self.init_fn(worker_id)
        os.nice(self.nice)


@HOOKS.register_module()
class LoaderPriorityHook(Hook):
    """Run the training loader's workers at a lower CPU priority when the
    model trains on the CPU.

    Without a GPU the step keeps every core busy (its products run on
    ``torch.get_num_threads()`` threads) and a loader worker preparing the
    next batch takes its CPU from the step.  At niceness 10 the worker
    still runs whenever a core is idle and gets a small share otherwise, so
    the batch is ready in time; at niceness 19 it starves and the step waits
    for data (figures: ``docs/speed.md``).  With CUDA the step mostly waits
    for the GPU and the workers keep their priority.

    Args:
        nice (int | str): niceness increment of each worker; ``'auto'``
            (default): :data:`CPU_WORKER_NICE` when the model's parameters
            are on the CPU, 0 (unchanged) otherwise.
    """

    priority = 'VERY_LOW'

    def __init__(self, nice: Union[int, str] = AUTO) -> None:
        if nice != AUTO and (not isinstance(nice, int) or nice < 0):
            raise ValueError(
                f"nice must be a non-negative int or '{AUTO}', got {nice!r}")
        self.nice = nice

    def resolve(self, runner) -> int:
        """The increment for this run (``'auto'`` resolved)."""
        if self.nice != AUTO:
            return self.nice
        param = next(runner.model.parameters(), None)
        on_cpu = param is None or param.device.type == 'cpu'
        return CPU_WORKER_NICE if on_cpu else 0

    def before_train(self, runner) -> None:
        """Wrap the train loader's ``worker_init_fn`` (before its workers
        start at the first iteration)."""
        nice = self.resolve(runner)
        loader = runner.train_loop.dataloader
        loader = getattr(loader, 'loader', loader)  # ResumableLoader
        if nice == 0 or not getattr(loader, 'num_workers', 0):
            return
        if isinstance(loader.worker_init_fn, NicedWorkerInit):
            return
        loader.worker_init_fn = NicedWorkerInit(loader.worker_init_fn, nice)
        runner.logger.info(f'train loader workers run at niceness +{nice} '
                           '(LoaderPriorityHook: CPU training)')
