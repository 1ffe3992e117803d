"""Model registry, asset manager, ONNX Runtime session factory and thin per-model wrappers."""
