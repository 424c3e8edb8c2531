"""Shared by the A/B scripts (``ab_tight_loop.py``, ``ab_greenlets.py``): parse the
``[PATH:]CONFIG`` arguments and run every configuration once per round, interleaved."""


def interleaved(configs, rounds, measure):
    """Run ``measure(path, config)`` for the untraced baseline and each ``[PATH:]CONFIG``,
    ``rounds`` times in turn; returns ``(specs, results)``: the ``(path, config)`` pairs,
    baseline first, and a dict of each pair's measurements in round order."""
    specs = [("", "baseline")] + [tuple(c.rsplit(":", 1)) if ":" in c else ("", c)
                                  for c in configs]
    results = {spec: [] for spec in specs}
    for _ in range(rounds):
        for spec in specs:
            results[spec].append(measure(*spec))
    return specs, results
