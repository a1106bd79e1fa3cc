"""One module per chapter, holding the experiment functions its notebook calls."""
