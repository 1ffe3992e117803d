"""PeopleLens replay harness: run the whole system on recorded video, measure it, show it, scale it out.

``video``/``sources`` (frames with the video's own timestamps, IMU sidecar, virtual head pan), ``processors``
(the live runtime's processor), ``enrollment`` (people store or a temporary one from photos), ``replay`` (the
deterministic loop and its outputs), ``records``, ``overlay``, ``audio_track``, ``report``, ``truth`` and
``metrics`` (ground truth, motmetrics), ``batch`` (process pool / Ray), ``cli`` (``peoplelens replay``).
``score_identity`` scores the product's names, clicks and tracks on recorded video; ``gaze_eval`` its looking-at-wearer.
"""
