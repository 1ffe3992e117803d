"""PeopleLens audio: binaural spatial cues from a person's direction.

Modules: ``sounds`` (numpy cue synthesis), ``tts`` (espeak-ng names, cached), ``bank`` (cue lookup),
``render`` (interface, convention, backend choice), ``render_numpy`` (spherical head), ``render_openal``
(OpenAL Soft HRTF via loopback), ``mixer`` (head-tracked block mixing, offline ``render_timeline``),
``output`` (sounddevice real-time output), ``wavio``, ``analysis`` (direction recovery), ``measure``, ``cli``.

Convention: azimuth 0 = straight ahead, positive = to the wearer's right, +-180 = behind; elevation
positive = up; distances in metres (inverse-distance gain, clamped, reference 1 m).
"""
