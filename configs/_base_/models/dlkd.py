# DL-DKD dual student (inheritance + exploration branches) distilled from a
# CLIP ViT-B/32 teacher. The dimensions come from the dataset config:
# model = dict(inheritance=dict(**_base_.branch_dims),
#              teacher=dict(feature_dim=_base_.teacher_dim)).
# The distillation term is loss_weight (the KL loss weight, 0.1) times the
# factor kd_weight that DynamicKDHook sets every epoch (see the schedules).
model = dict(
    type='DualStudentRecognizer',
    inheritance=dict(
        type='PRVRBranch',
        hidden_dim=384,
        num_heads=4,
        input_dropout=0.1,
        dropout=0.1),
    teacher=dict(type='CLIPTeacherHead'),
    loss_triplet=dict(
        type='TripletRankingLoss', margin=0.1, hard_pool_size=20),
    loss_nce=dict(type='InfoNCELoss', loss_weight=0.04),
    loss_distill=dict(
        type='FrameKLDistillLoss', temperature=0.2, loss_weight=0.1),
    label_style='hard',
    data_preprocessor=dict(type='PRVRDataPreprocessor'))
