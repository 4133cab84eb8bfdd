"""`/api/docs`: the API's interactive docs, served from files on this machine, never a CDN.

Swagger UI's script and stylesheet come from the `fastapi-offline` package (a dependency of
the `web` extra), mounted at `/api/docs/assets`; the page's own start-up script is
`/static/docs.js`, so the docs run under a policy that allows scripts from this site only.
Without that package the page lists the API's operations from the OpenAPI schema instead,
and says how to get the interactive version.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from .deps import state_of

__all__ = ["ASSETS_URL", "assets_dir", "mount_assets", "router"]

ASSETS_URL = "/api/docs/assets"
"""Where Swagger UI's files are served."""
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path | None:
    """The installed folder holding Swagger UI's files, or None if `fastapi-offline` is missing."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if all((folder / name).is_file() for name in _FILES) else None


def mount_assets(app: FastAPI) -> None:
    """Serve Swagger UI's files at `ASSETS_URL` when the package that ships them is installed."""
    folder = assets_dir()
    if folder is not None:
        app.mount(ASSETS_URL, StaticFiles(directory=str(folder)), name="docs-assets")


def _operations(schema: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            rows.append({"method": method.upper(), "path": path, "summary": str(op.get("summary") or "")})
    return rows


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """Swagger UI from local files (or, without them, the list of operations)."""
    web = state_of(request)
    schema = request.app.openapi()
    return web.templates.TemplateResponse(
        request,
        "docs.html",
        {
            "title": schema.get("info", {}).get("title", web.title),
            "interactive": assets_dir() is not None,
            "assets": ASSETS_URL,
            "operations": _operations(schema),
        },
    )
