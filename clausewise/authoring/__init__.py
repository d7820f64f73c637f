"""Tools for policy authors, above the engine: tests, verification, impact, lock, SARIF."""
