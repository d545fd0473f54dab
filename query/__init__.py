"""Lexical, dense and hybrid retrieval over a built index."""
