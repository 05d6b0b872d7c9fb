"""The base of the core's immutable pydantic values.

Settings blocks, state parts, compiled campaigns and the runtime context are all values:
built once, never changed in place (a Faust table value mutated in place is not persisted,
and a shared campaign set must not change under a running journey), and strict about
their fields (a misspelt key is an error, not an ignored extra).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FrozenModel"]


class FrozenModel(BaseModel):
    """Frozen, and refuses unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
