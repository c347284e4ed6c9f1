"""Models on the engine: the paper's Models A-E and the fermionic-system builder.

Never imports `jaxtls._workflows` (tests/test_architecture.py).
"""
