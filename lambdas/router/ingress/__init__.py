"""Client protocols other than chat completions, translated onto the chat pipeline.

Each module here is pure (no HTTP, no database): it turns one protocol's request into a chat
completions request and the chat answer (whole or streamed) back into that protocol's shapes.
"""
