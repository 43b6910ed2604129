"""The web dashboard: ``conveyor ui``.

::

    app.py            create_ui_app(project, host=..., insecure=..., api_keys=...): the ASGI app
    api.py            the JSON API under /api/ (pydantic response models -> OpenAPI)
    pages.py          server-rendered pages (templates/), charts and actions via /api/
    _service_*.py     what the API returns and the pages render (runs, models, deployments, ops)
    _run_list.py      the runs list: filter, sort and paginate in SQL
    _queries.py       run, data and model reads (SQLAlchemy Core)
    _monitor_queries  monitoring series, grouped by day in SQL when long
    _traffic.py       prediction-log traffic (Polars, only the window's hours)
    _figures.py       Plotly figures as JSON (plotly.js is served from the plotly package)
    _auth.py          the server's API keys and loopback rule, session cookies

Importing this package imports nothing heavy; ``conveyor.ui.app`` imports FastAPI.

Example:
    >>> from conveyor.ui.app import create_ui_app  # doctest: +SKIP
    >>> app = create_ui_app(conveyor.Project("examples/churn"))  # doctest: +SKIP
"""
