"""``python -m app``: serve the API with uvicorn on the configured host and port (``PORT`` honoured)."""

import uvicorn

from app.main import create_app
from core.settings import get_settings


def main() -> None:
    settings = get_settings()
    print(f"LiRA Search on http://{settings.host}:{settings.port} (docs at /docs)", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
