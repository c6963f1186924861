"""Stage 3, training: Figure 1's networks, minibatches from the caches, SGD, clip predictions."""
