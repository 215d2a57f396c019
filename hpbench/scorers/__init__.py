"""Built-in criteria; importing this package registers them."""
from . import entropy, hies, his, random  # noqa: F401
