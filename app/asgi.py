"""The ASGI application object for uvicorn (`app.asgi:app`)."""

import gc

# No collection while the app is built and started: each full collection walks the whole
# startup heap, and the dialect's import alone set off one worth half the lifespan (~35 ms of
# a cold start; docs/performance-notes.md, step 24). `app.main.freeze_startup_heap` collects
# once, freezes that heap and turns collection back on, a second after serving begins.
gc.disable()

from app.main import create_app  # noqa: E402  (after the collector is off)

app = create_app()
