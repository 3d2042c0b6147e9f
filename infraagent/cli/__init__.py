"""The command line: the only composition root. It builds settings and adapters and runs."""
