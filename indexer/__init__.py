"""Sources, message decoding, series assembly, cover parsing and index writers."""
