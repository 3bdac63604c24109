"""Vector stores behind one interface; ``open_store(settings)`` picks the engine."""
