"""Stage 1, mail: archive sources, decoding raw mail into messages, the message store."""
