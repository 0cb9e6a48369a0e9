"""Clients for model instances, one per instance kind, behind one interface."""
