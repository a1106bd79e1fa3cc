"""The course's foundation: errors, atomic writes, paths, provenance, and progress reports; imports nothing of gcrl."""
