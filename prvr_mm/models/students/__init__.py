from .dual_student_recognizer import DualStudentRecognizer
from .prvr_branch import PRVRBranch

__all__ = ['DualStudentRecognizer', 'PRVRBranch']
