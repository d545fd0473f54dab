"""Text rules shared by every stage: subject markers, diffs and diffstats, trailers,
links and identifiers. Each rule has its one home here; nothing here reads files."""
