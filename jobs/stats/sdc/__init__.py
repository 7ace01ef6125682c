"""Disclosure control on aggregated cell tables: primary and secondary suppression, audit, noise."""
