"""Peak memory of a population run, estimated and checked before anything is sampled or solved.

A population of ``n`` subjects on ``T`` output times holds, at its peak, about three copies of
the ``n x T x outputs`` block of float64 values (the engine's arrays, the Dataset, and for
``nadsim simulate --population`` the long table, its covariate merge and the Parquet buffer:
measured, :data:`BLOCK_COPIES`),
plus the ``n x parameters`` matrix of the sampled subjects. A spec whose estimate exceeds half
of the machine's physical memory is refused with the largest number of subjects that fits, the
same rule as a trial (``nadsim.trial``'s ``check_memory``). An estimate to refuse impossible
specs, not a measurement.
"""

from __future__ import annotations

import os

from nadsim._errors import InputError

__all__ = ["check_population_memory", "machine_memory_bytes", "population_memory_bytes"]

#: copies of the subject x time x output block alive at the peak (see the module docstring).
#: Measured: the peak RSS of ``nadsim simulate --population 2000`` less that of 500 (202 times,
#: 58 outputs, 2026-12-02) is 268 KB a subject, 2.9 copies of its 93.7 KB block
BLOCK_COPIES = 3
#: the sampled parameter matrix and its clipped copy
PARAMETER_COPIES = 2
_FLOAT = 8


def machine_memory_bytes() -> int:
    """Physical memory of this machine (bytes)."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def population_memory_bytes(n_subjects: int, n_times: int, n_outputs: int, *, n_states: int = 0,
                            n_parameters: int = 0) -> int:
    """Estimated peak bytes of ``n_subjects`` subjects with ``n_outputs`` outputs (and
    ``n_states`` kept states) at ``n_times`` times, ``n_parameters`` parameters each."""
    per_subject = _FLOAT * (BLOCK_COPIES * n_times * (n_outputs + n_states) + PARAMETER_COPIES * n_parameters)
    return int(n_subjects) * per_subject


def check_population_memory(n_subjects: int, n_times: int, n_outputs: int, *, n_states: int = 0,
                            n_parameters: int = 0, available: int | None = None, field: str = "population",
                            times_field: str = "times") -> None:
    """Refuse a population whose estimated peak memory exceeds half of ``available`` (default:
    this machine's physical memory), naming ``field`` and the number of subjects that fits; a
    time grid too fine for even one subject names ``times_field``."""
    available = machine_memory_bytes() if available is None else int(available)
    budget = available // 2
    need = population_memory_bytes(n_subjects, n_times, n_outputs, n_states=n_states, n_parameters=n_parameters)
    if need <= budget:
        return
    one = population_memory_bytes(1, n_times, n_outputs, n_states=n_states, n_parameters=n_parameters)
    fits = budget // one
    where = (f"{n_times} times x {n_outputs + n_states} outputs: an estimated {need / 2**30:.1f} GiB against half of "
             f"this machine's {available / 2**30:.1f} GiB")
    if fits < 1:
        raise InputError(times_field, f"a time grid that fits in memory for one subject ({where})", n_times)
    raise InputError(field, f"a number of subjects in [1, {fits}] for {where}", int(n_subjects))
