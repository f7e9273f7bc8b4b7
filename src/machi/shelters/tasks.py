"""The shelters room's background tasks, imported when a worker starts (Huey registers only the
tasks of modules it has imported; a worker that never imported the responders would drop the
task that tells other rooms a shelter opened)."""

from machi.shelters.responders import run_opening_responder

__all__ = ["run_opening_responder"]
