"""Stage 2, series: messages assembled into series versions and families, cover letters
split into fields (motivation, changelog, files)."""
