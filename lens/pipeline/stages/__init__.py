"""The pipeline's stages, one job each (see :mod:`peoplelens.lens.pipeline.stage` for the protocol).

In frame order: ``clock`` -> ``schedule`` -> (``detect_faces`` | ``detect_people`` | ``motion``) -> ``world`` ->
``bodies`` -> ``foveate`` -> ``face_quality`` -> ``track`` -> (``face_attributes`` | ``embed``) -> ``identify`` ->
``place`` -> ``people_map`` -> ``experiences`` -> ``activity`` (which tells ``schedule`` whether anyone was in view).
"""
