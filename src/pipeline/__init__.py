"""e2e-tagging: Dieleman & Schrauwen (2014), End-to-end learning for music audio, rebuilt."""

__version__ = "0.1.0"
