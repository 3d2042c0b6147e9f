"""The operator: the application layer that runs agents on a cluster through ``ports.Cluster``."""
