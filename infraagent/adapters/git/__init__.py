"""Git over gitpython: the one home of ``git`` (fleet checkouts and the runs branch)."""
