"""Hand-written, independent reference implementations of the shipped contracts.

They are the oracle the DSL engine is tested against: plain Python, written from
``CONTRACTS.md`` without reading the DSL policies.
"""
