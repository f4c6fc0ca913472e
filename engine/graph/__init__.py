"""Pure graph passes over ONNX models: inspection, exposing tensors, batching, suffixes.

Every pass returns a new model and never mutates its input; none imports
attribution code.
"""
