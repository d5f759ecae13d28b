from .clip_teacher_head import CLIPTeacherHead

__all__ = ['CLIPTeacherHead']
