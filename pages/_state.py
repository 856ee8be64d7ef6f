"""What every page reads from the request: the warehouse, the display time zone, and the URL's filters."""
from __future__ import annotations

from flask import current_app

from components.messages import input_error
from data.warehouse import Warehouse, current
from queries.filters import FilterError, Filters


def warehouse() -> Warehouse:
    return current()


def timezone() -> str:
    return current_app.config.get("PULSE_TIMEZONE", "UTC")


def with_filters(defaults: Filters | None = None):
    """Make `render(filters, start, end)` a Dash Pages `layout(**query)`: the URL's query string becomes
    Filters (keys it leaves out take `defaults`) resolved to a UTC range, and an unusable parameter shows
    a message naming it instead of the view."""
    def decorate(render):
        def layout(**query):
            try:
                filters = Filters.from_query(query, defaults)
                start, end = filters.resolve(tz=timezone())
                return render(filters, start, end)
            except FilterError as error:  # from the URL, or from a view's own parameters
                return input_error(error.field, error.value, error.problem)
        layout.__doc__ = render.__doc__
        return layout
    return decorate
