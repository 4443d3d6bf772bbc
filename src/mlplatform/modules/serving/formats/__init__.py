"""Wire formats of predictions, all to and from one neutral form (`payload.py`): MLflow's scoring-server
bodies (`scoring.py`), the platform's answers (`answers.py`), and the Open Inference Protocol v2 (`oip.py`
for inference, `oip_tensors.py` for tensor data, `oip_metadata.py` for metadata and error bodies)."""
