"""What running servers report (heartbeats) and the fleet canary share.

The tables and queries live in :mod:`conveyor.stores.deployments` (so the
agent and the dashboard can read them without the server); the server writes
them through :class:`conveyor.serve.heartbeat.HeartbeatReporter`. This module
re-exports the query API for interface code.
"""

from conveyor.stores.deployments import (
    Deployment,
    canary_traffic,
    list_deployments,
    set_canary_traffic,
)

__all__ = ["Deployment", "canary_traffic", "list_deployments", "set_canary_traffic"]
