"""The interactive API documentation pages, served with bundled assets (no CDN).

What belongs here: the OpenAPI render plugins of the app and the static route that
serves their JavaScript and CSS from the ``swagger-ui-bundle-v2`` wheel (Swagger UI
5, which reads OpenAPI 3.1). The pages only reference same-origin URLs, so they work
offline and under a strict Content-Security-Policy. ReDoc, RapiDoc, Stoplight
Elements and Scalar are not served: Litestar loads them from public CDNs and no
installable package ships their bundles; ``/schema/openapi.json`` (and ``.yaml``)
feed any of them run elsewhere.
"""

from pathlib import Path

from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.router import Router
from litestar.static_files import create_static_files_router

__all__ = ["ASSETS_PATH", "assets_router", "render_plugins", "swagger_ui_dir"]

#: Where the bundled assets are served (public, like the pages).
ASSETS_PATH = "/schema/assets"


def swagger_ui_dir() -> Path:
    """The directory of the installed Swagger UI distribution.

    Raises:
        RuntimeError: the ``swagger-ui-bundle-v2`` package (``api`` extra) is missing.
    """
    try:
        import swagger_ui_bundle
    except ImportError as exc:  # pragma: no cover - the api extra installs it
        raise RuntimeError(
            "swagger-ui-bundle-v2 is not installed: pip install 'abwb[api]'"
        ) from exc
    return Path(swagger_ui_bundle.swagger_ui_path)


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """``/schema/swagger`` (default page, bundled assets), ``openapi.json`` and ``.yaml``."""
    return [
        SwaggerRenderPlugin(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            path=["/swagger", "/"],
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        ),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]


def assets_router() -> Router:
    """The static route of the bundled Swagger UI files (not in the schema)."""
    return create_static_files_router(
        path=ASSETS_PATH, directories=[swagger_ui_dir()], name="schema-assets"
    )
