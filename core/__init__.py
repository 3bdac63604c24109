"""Shared pieces of LiRA Search: settings, catalogue schema and the vector-store interface."""
