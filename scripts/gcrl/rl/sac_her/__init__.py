"""The book's SAC+HER: its algorithm (networks, losses, update), its replay and normaliser, and its run loop."""
