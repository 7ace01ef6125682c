"""Shared domain code of the ANPR statistics platform (settings, pseudonyms, lake, broker)."""
