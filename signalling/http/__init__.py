"""HTTP side of the control plane: middlewares and route tables."""
