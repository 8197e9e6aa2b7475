"""Bot Framework transport: the only package that imports botbuilder."""
