"""Wire formats of predictions: MLflow's scoring-server bodies (`scoring`), the Open Inference Protocol v2
(`oip`), and the platform's answers (`answers`), all to and from one neutral form (`payload`)."""
