"""Reference solutions of the problem sets, one module per chapter.

They import nothing of the course (numpy, torch, scipy and gymnasium only), so
that each reads on its own where the book shows it, and each passes the checker
of its problem (tests/test_exercises.py).
"""
