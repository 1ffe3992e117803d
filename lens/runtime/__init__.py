"""The PeopleLens runtime: capture -> perception -> world/experiences -> audio output (+ peers' "seen" signal).

Stages run as threads in one process (``peoplelens run``) or split over ZeroMQ between the head-worn device
(``peoplelens device``: capture, audio output, seen signal) and the phone (``peoplelens phone``: the processor).

Modules: ``errors``, ``messages`` (versioned msgpack wire format), ``transport`` (ZeroMQ sockets, endpoint
layout, latest-frame-wins), ``slots`` (in-process latest-value slot), ``capture`` (camera / video / stream and
IMU sidecar), ``protocol`` (processor interface and factory loading), ``face_processor`` (a small real
processor), ``perception`` (per-frame processing + timing), ``sinks`` (event log, real-time audio, seen publisher),
``stats`` (counters, percentiles, reports), ``lifecycle`` (signals, final stats),
``local`` / ``device`` / ``phone`` (the three run modes), ``cli``.
"""
