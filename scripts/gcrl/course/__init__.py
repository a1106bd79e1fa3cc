"""The course machinery: profiles, the chapter session, the runner, deliverables, the book build and the CLI."""
