"""``python -m app``: serve the API with uvicorn on the configured host and port (``PORT`` honoured).

The model is loaded before uvicorn starts, so a missing or corrupt checkpoint ends the process with one line that
names the file and a non-zero status, instead of a traceback from inside the server's start-up.
"""

import sys

import uvicorn

EXIT_CONFIG = 2


def one_line(message: str, limit: int = 600) -> str:
    """Library messages (torch's unpickling errors) can span many lines: keep the start, on one line."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main() -> int:
    from pydantic import ValidationError

    from core.settings import get_settings, settings_error_message

    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"error: {settings_error_message(exc)}", file=sys.stderr)
        return EXIT_CONFIG

    from app.main import create_app
    from app.query.synonyms import Synonyms, SynonymsError
    from model.loader import load_encoder, load_errors

    try:
        synonyms = Synonyms.load(settings.synonyms_path)
    except SynonymsError as exc:
        print(f"error: cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    try:
        encoder = load_encoder(settings)
    except load_errors() as exc:
        print(f"error: cannot start: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"LiRA Search on http://{settings.host}:{settings.port} (docs at /docs)", flush=True)
    uvicorn.run(
        create_app(settings, encoder=encoder, synonyms=synonyms),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=not settings.access_log,  # our JSON access log replaces uvicorn's
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
