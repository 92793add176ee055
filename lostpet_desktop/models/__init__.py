"""Qt item models that adapt the engine's dataclasses (``Match``, ``Dog``, ``Photo``), and their delegate."""

from .delegates import CardDelegate
from .dog_model import DogListModel
from .match_model import MatchListModel
from .photo_model import PhotoListModel
from .roles import Roles

__all__ = ["CardDelegate", "DogListModel", "MatchListModel", "PhotoListModel", "Roles"]
