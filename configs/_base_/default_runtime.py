# Runtime shared by every prvr_mm config (mmaction2's default_runtime shape).
default_scope = 'mmaction'
custom_imports = dict(imports=['prvr_mm'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SafeCheckpointHook',  # CheckpointHook, deleting old files last
        interval=1,
        save_best='prvr/SumR',
        rule='greater',
        max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # prvr_mm (docs/long_runs.md): exact --resume (random states, mid-epoch
    # checkpoints), save-and-exit 0 on SIGTERM, strict checkpoint loading,
    # a new run never overwrites a previous run's checkpoints
    exact_resume=dict(type='ExactResumeHook'),
    preemption=dict(type='PreemptionHook'),
    strict_checkpoint=dict(type='StrictCheckpointHook'),
    work_dir_guard=dict(type='WorkDirGuardHook'),
    # --resume with another train_cfg.max_epochs: schedules rescaled to the
    # new end, or refused with both numbers (never a frozen learning rate)
    resume_intent=dict(type='ResumeIntentHook'),
    # CPU training: loader workers at niceness +10, so they take idle CPU
    # rather than the step's (docs/speed.md); 'auto' leaves CUDA alone
    loader_priority=dict(type='LoaderPriorityHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

vis_backends = [dict(type='LocalVisBackend')]
# TensorBoard: vis_backends = [dict(type='LocalVisBackend'),
#                              dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=2018, deterministic=False)
