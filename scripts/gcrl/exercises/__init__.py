"""The problem sets: one per chapter, checked against the course's own pipeline.

Each chapter module (``ch00`` ... ``ch07``) lists its :class:`~gcrl.exercises.problem.Problem`
objects; ``stubs/`` holds the files the reader starts from (the diagnosis problems'
planted bugs among them) and ``solutions/`` the reference solutions the book shows.
:func:`~gcrl.exercises.check.check` runs a chapter's checks on the reader's file.
"""

from gcrl.exercises.check import CHAPTERS, Report, check, exercises_folder, problems

__all__ = ["CHAPTERS", "Report", "check", "exercises_folder", "problems"]
