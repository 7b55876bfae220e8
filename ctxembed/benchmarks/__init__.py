"""Builders of the BEIR-format benchmarks that ctxembed's defaults are chosen on, from Debian's packages:
man-pages (`manpages`), Debian package search (`debian`) and the Python FAQ (`pyfaq`). `splits` is the one
deterministic train/dev/test assignment they share."""
