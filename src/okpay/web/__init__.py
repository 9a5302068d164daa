"""Base layout, static assets, middleware and shared page helpers."""
