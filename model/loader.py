"""Pick the encoder the settings ask for: the trained Arca checkpoint by default, the base only on request."""

from __future__ import annotations

from core.settings import Settings
from model.encoder import Encoder


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded; the message names the file and what to do."""


def load_encoder(settings: Settings) -> Encoder:
    from model.base_encoder import BaseEncoder

    base = BaseEncoder.from_settings(settings)
    if settings.model == "base":
        return base
    if not settings.arca_checkpoint.is_file():
        raise ModelLoadError(
            f"Arca checkpoint {settings.arca_checkpoint} not found: restore it from the repository, train it "
            "(python -m model.train arca --config model/configs/arca.yaml), point LIRA_ARCA_CHECKPOINT at it, "
            "or serve the untrained base with LIRA_MODEL=base"
        )
    from model.arca.encoder import ArcaEncoder

    return ArcaEncoder.from_checkpoint(base, settings.arca_checkpoint, settings)
