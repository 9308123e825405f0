"""In-memory Kubernetes API server emulator (aiohttp) for the sandbox; never imports service/."""

__all__: list[str] = []
