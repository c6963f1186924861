"""Stage 2, features: the memory-mapped audio and mel caches and the ~3 s windows cut from them."""
