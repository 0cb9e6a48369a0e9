"""MotherFluxer model server: one OpenAI-compatible and SageMaker-compatible HTTP front for a
language model running in a supervised child process."""

__version__ = "0.1.0"
