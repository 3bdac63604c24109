"""The bundled seven-market product catalogue: a hand-written lexicon and a seeded generator built on it."""
