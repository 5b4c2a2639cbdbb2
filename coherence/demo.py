"""Placeholder replaced below."""
def register(sub): pass
