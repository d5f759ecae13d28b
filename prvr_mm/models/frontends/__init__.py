from .video_backbone_frontend import VideoBackboneFrontend

__all__ = ['VideoBackboneFrontend']
