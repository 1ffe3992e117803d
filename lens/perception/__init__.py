"""Perception: from pixels and detections to people. Tracking (``tracking``), identity evidence and the identity
policy (``identity``, ``identity_policy``), face quality, face attributes (head pose, ears, gaze) and camera
geometry (intrinsics, directions, distance). Knows nothing of the world frame, the People Map or the sounds."""
