"""The 12-month emergency-admission risk model (CLINICAL_RULES §8): ours, not QAdmissions.

``train`` (engine.risk.model) fits and evaluates it and writes the artifact folder; ``score``
(engine.risk.score) applies it inside Spark.
"""
from engine.risk.card import read_card
from engine.risk.model import Model, TrainResult, load_model, train, write_artifact
from engine.risk.score import score

__all__ = ["Model", "TrainResult", "load_model", "read_card", "score", "train", "write_artifact"]
