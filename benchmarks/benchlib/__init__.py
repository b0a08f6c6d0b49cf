"""The parts of ``benchmarks/bench.py``, one concern per module.

- ``cases``: the benchmark's rows: what each op computes, its inputs, who runs it and how.
- ``peers``: the implementations (fastbce, torch, NumPy, ...): loading them, their thread
  settings, and the calls a case is built from.
- ``timing``: interleaved median timing of every implementation of one configuration.
- ``report``: result records, the printed table, the machine record, the JSON file.
- ``plot``: throughput against N, one panel per op and dtype.

``bench.py`` is the command line on top of them.
"""
