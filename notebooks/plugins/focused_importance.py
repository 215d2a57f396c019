"""An example plugin: a criterion in its own file, run through run_all with ``plugins=["notebooks/plugins/focused_importance.py"]``.

Every grid cell's kernel imports this file before it reads its parameters, so the criterion exists wherever
the cell runs (local processes or dask workers). Editing the function recomputes the scores it produced
(stored scores are keyed by the criterion's source)."""
import hpbench


@hpbench.register_criterion("focused_importance")
def focused_importance(ctx, power: float = 1.0):
    """HIS / entropy**power: heads that are important *and* focused are kept (higher = keep)."""
    st = ctx.stats()  # HIS and attention entropy from one shared forward+backward pass
    return st.his / st.entropy.clamp(min=1e-6) ** power
