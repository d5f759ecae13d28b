# DL-DKD dual student (inheritance + exploration) with a CLIP teacher.
# Dimensions are set by the dataset configs (video_dim, query_dim, ...).
model = dict(
    type='DualStudentRecognizer',
    inheritance=dict(
        type='PRVRBranch',
        video_dim=3072,
        query_dim=768,
        hidden_dim=384,
        max_ctx_l=128,
        max_desc_l=30,
        num_heads=4,
        input_dropout=0.1,
        dropout=0.1),
    teacher=dict(type='CLIPTeacherHead', feature_dim=512),
    loss_triplet=dict(
        type='TripletRankingLoss', margin=0.1, hard_pool_size=20),
    loss_nce=dict(type='InfoNCELoss', loss_weight=0.04),
    loss_distill=dict(
        type='FrameKLDistillLoss', temperature=0.2, loss_weight=0.1),
    label_style='hard',
    kd_weight=1.0,
    fusion_weight=0.7,
    data_preprocessor=dict(type='PRVRDataPreprocessor'))
