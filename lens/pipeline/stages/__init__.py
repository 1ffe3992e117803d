"""The pipeline's stages, one job each (see :mod:`peoplelens.lens.pipeline.stage` for the protocol).

In frame order: ``clock`` -> ``schedule`` -> (``detect_faces`` | ``detect_people`` | ``motion``) -> ``world`` ->
``foveate`` -> ``face_quality`` -> ``track`` -> ``embed`` -> ``identify`` -> ``face_attributes`` -> ``place`` ->
``people_map`` -> ``experiences`` -> ``activity`` (which tells ``schedule`` whether anyone was in view).
"""
