"""Model worker processes: an MLflow pyfunc model loaded in child processes, `predict` run there.

The platform side is `pool.py` (`ModelWorkerPool`) and `errors.py`; the child is `child.py`. This package
file imports nothing: the child imports the package too, and must not pay for the platform's imports.
"""
