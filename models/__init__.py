"""Typed records, the exception tree and the embedding-model seam."""
