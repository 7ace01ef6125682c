"""Entry points: the `anpr` command and the embedded demo.

The one package allowed to import every stage, so that the stages below it stay free of one another's
upward imports (docs/architecture.md)."""
