"""Feed onboarding: supplier CSV exports, synthetic municipal feeds, onboarding and their CLI."""
