"""The edge: adapters that do real I/O against external systems.

Each sub-package is the one home of one third-party I/O library (``kube`` holds
``kubernetes``). Nothing in the inner layers imports these; the command line wires them in.
"""
