"""Git over gitpython: the one home of ``git`` (fleet checkouts and the runs branch).

- ``GitFleetRepository(url, ref, workdir, credentials=None)``: ``ports.FleetRepository``.
- ``GitCredentials``: an HTTPS username + token, or an SSH private key + known_hosts.
"""

from infraagent.adapters.git.auth import GitCredentials
from infraagent.adapters.git.fleet import GitFleetRepository

__all__ = ["GitCredentials", "GitFleetRepository"]
