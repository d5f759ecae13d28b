from .clip_zero_shot import (CLIP_BRANCH, CLIPEmbeddingBranch,
                             CLIPZeroShotRetriever)
from .dual_student_recognizer import (BRANCH_ATTRS, EXPLORATION, INHERITANCE,
                                      DualStudentRecognizer)
from .prvr_branch import PRVRBranch

__all__ = [
    'DualStudentRecognizer', 'PRVRBranch', 'BRANCH_ATTRS', 'INHERITANCE',
    'EXPLORATION', 'CLIPZeroShotRetriever', 'CLIPEmbeddingBranch',
    'CLIP_BRANCH'
]
