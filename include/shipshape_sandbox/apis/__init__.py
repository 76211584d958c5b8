"""One module per emulated API; each exposes `build(sandbox) -> starlette.routing.Mount`."""
