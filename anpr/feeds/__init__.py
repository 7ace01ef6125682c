"""Feed onboarding: supplier CSV exports, synthetic municipal feeds and onboarding (their commands: cli/feeds.py)."""
