"""Serving: the HTTP service, batch and stream scoring."""
