from .dynamic_kd_hook import DynamicKDHook
from .early_stopping_hook import ResumableEarlyStoppingHook
from .exact_resume_hook import ExactResumeHook
from .loader_priority_hook import LoaderPriorityHook
from .preemption_hook import PreemptionHook, TrainingPreempted
from .resume_intent_hook import ResumeIntentHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .strict_checkpoint_hook import StrictCheckpointHook
from .work_dir_guard_hook import WorkDirGuardHook

__all__ = [
    'DynamicKDHook', 'ExactResumeHook', 'LoaderPriorityHook', 'PreemptionHook',
    'ResumableEarlyStoppingHook', 'ResumeIntentHook', 'SafeCheckpointHook',
    'StrictCheckpointHook', 'TrainingPreempted', 'WorkDirGuardHook'
]
