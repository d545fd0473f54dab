"""Stage 3, index: a generation's documents, lexical and dense indexes, chunks, the
generation directories and the build that writes them."""
