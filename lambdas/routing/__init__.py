"""MotherFluxer's routing library: pure Python, no AWS, HTTP or database imports.

Everything that decides where a request goes lives here so it can be read and tested on its
own; the router app feeds it snapshots of the world and acts on its answers.
"""
