"""How the platform hosts MLflow's tracking server: its configuration from the settings (`config.py`), its
schema migrations (`migrations.py`), the lazily loaded stores and server (`host.py`), the server's own process
(`worker.py` starts it, `server_process.py` runs in it, `proxy.py` forwards to it) or the in-process app
(`server_app.py`, `mlflow_middleware.py`), and the `/mlflow` mount (`mount.py`)."""
