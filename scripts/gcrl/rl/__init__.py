"""Learning: environments, relabelling, evaluation, perturbations, video, and the learners behind one interface."""
