"""Timing shared by the benchmarks: the kinds of call being compared take turns, call by call, so
that a burst of load on the shared machine hits every kind alike."""
import statistics
import time
from typing import Any, Callable, Dict, List


def interleaved_medians(kinds: Dict[str, Callable[[], Any]], iters: int) -> Dict[str, float]:
    """Call each function once per round, ``iters`` rounds (after two warm-up calls each); the
    median seconds of each."""
    for fn in kinds.values():
        for _ in range(2):
            fn()
    times: Dict[str, list] = {key: [] for key in kinds}
    for _ in range(iters):
        for key, fn in kinds.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def interleaved_repeats(kinds: Dict[str, Callable[[], Any]], iters: int,
                        repeats: int) -> Dict[str, List[float]]:
    """:func:`interleaved_medians` ``repeats`` times: per kind, the median seconds of each
    repeat (ratios between kinds are then taken repeat by repeat)."""
    samples: Dict[str, List[float]] = {key: [] for key in kinds}
    for _ in range(repeats):
        for key, seconds in interleaved_medians(kinds, iters).items():
            samples[key].append(seconds)
    return samples
