"""The messages people read: Discord embeds, the text form for other notification blocks, their
words (fr/en)."""
