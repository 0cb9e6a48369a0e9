"""The web console: static pages served at /ui/ that talk only to the public HTTP API."""
