"""Errors the command line reports as one clear line naming the fix."""


class CourseError(Exception):
    """An expected failure with a message meant for the reader, not a traceback."""

    exit_code = 2


class ChapterFailed(CourseError):
    """A chapter's notebook raised in one of its cells."""

    exit_code = 1


class VerificationFailed(CourseError):
    """A results folder does not meet its chapters' deliverable declarations."""

    exit_code = 1
