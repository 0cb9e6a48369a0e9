"""The local stack: the router with real embedded parts and local model servers, no Docker."""
