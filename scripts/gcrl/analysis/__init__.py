"""Many runs and what they say: the scheduler, sweeps on Ray, comparisons, statistics, robustness, the benchmark, figures."""
