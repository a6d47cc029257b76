"""The decoder (Cohere Command style), its presets, loss, info and HF export.

from code_in_pretraining.model import Decoder, get_preset, next_token_loss
cfg = get_preset("tiny", vocab_size=8192)
model = Decoder(cfg, rngs=nnx.Rngs(0))
"""

from code_in_pretraining.model.config import PRESETS, ModelConfig, get_preset
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.model.loss import next_token_loss

__all__ = ["PRESETS", "ModelConfig", "get_preset", "Decoder", "next_token_loss"]
