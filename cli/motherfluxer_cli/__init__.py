"""`motherfluxer`: the operator's command line for a MotherFluxer router (public API only)."""

__version__ = "0.1.0"
