"""The GitOps reconciler: from a fleet repository's revision to custom resources on the cluster.

Application layer: it reaches Git, the files and the cluster only through ports.
"""
