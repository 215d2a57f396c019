"""Built-in criteria; importing this package registers them."""
from . import astar, dsp, entropy, hies, his, random, smp  # noqa: F401
