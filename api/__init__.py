"""FastAPI application: the HTTP edge of assetflow."""
