"""The audit log: what a request's row says (`recording.py`) and the batched writer (`writer.py`)."""
