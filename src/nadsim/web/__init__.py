"""Web app and JSON API (FastAPI) over the public nadsim API, with a bilingual page.

Run it with ``nadsim serve`` (binds to 127.0.0.1:8000 by default).
"""

from nadsim.web.app import create_app as create_app

__all__ = ["create_app"]
