"""Pure graph passes: inspection, exposing tensors, batching, fusion."""
