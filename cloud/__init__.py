"""Shanshui cloud: ingest, storage, query API and the operator CLI (see DESIGN.md)."""
