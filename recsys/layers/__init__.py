"""Pure tensor modules, ``(B, F, D)`` in and out unless stated: reused by every model."""

from recsys.layers.attention import InteractingLayer
from recsys.layers.cross import CrossNetwork
from recsys.layers.crosses import Factorize, MethodMixture, annealed_temperature
from recsys.layers.fgcnn import FeatureGeneration
from recsys.layers.gates import gate_penalty, hard_gate, soft_gate, temperature
from recsys.layers.interaction import FactorizationMachine, InnerProduct
from recsys.layers.logit import LogitLinear
from recsys.layers.mlp import MLP

__all__ = ["CrossNetwork", "Factorize", "MethodMixture", "annealed_temperature", "FactorizationMachine", "FeatureGeneration", "InnerProduct", "InteractingLayer", "LogitLinear", "MLP", "gate_penalty", "hard_gate",
           "soft_gate", "temperature"]
