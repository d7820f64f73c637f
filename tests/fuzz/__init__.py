"""The fuzzer (see `harness`); `python -m tests.fuzz --seconds N` runs it."""
