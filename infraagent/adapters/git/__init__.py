"""Git over gitpython: the one home of ``git`` (fleet checkouts and the runs branch).

- ``GitFleetRepository(url, ref, workdir, credentials=None)``: ``ports.FleetRepository``.
- ``GitRunsPublisher(url, workdir=, branch="infraagent/runs", credentials=None)``:
  ``ports.RunsPublisher``.
- ``GitCredentials``: an HTTPS username + token, or an SSH private key + known_hosts.
"""

from infraagent.adapters.git.auth import GitCredentials
from infraagent.adapters.git.fleet import GitFleetRepository
from infraagent.adapters.git.runs import GitRunsPublisher

__all__ = ["GitCredentials", "GitFleetRepository", "GitRunsPublisher"]
