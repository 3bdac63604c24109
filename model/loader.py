"""Pick the encoder the settings ask for: the trained Arca checkpoint by default, the base on request."""

from __future__ import annotations

import sys

from core.settings import Settings
from model.encoder import Encoder


def load_encoder(settings: Settings) -> Encoder:
    from model.base_encoder import BaseEncoder

    base = BaseEncoder.from_settings(settings)
    if settings.model == "base":
        return base
    if not settings.arca_checkpoint.exists():
        print(
            f"warning: Arca checkpoint {settings.arca_checkpoint} not found; serving the base encoder "
            "(set LIRA_MODEL=base to silence this)",
            file=sys.stderr,
        )
        return base
    from model.arca.encoder import ArcaEncoder

    return ArcaEncoder.from_checkpoint(base, settings.arca_checkpoint, settings)
