"""``mobilebert export-hf``: write a model as HF ``config.json`` + ``model.safetensors``.

    mobilebert export-hf models/mobilebert --out hf/mobilebert
    # then, in PyTorch: transformers.MobileBertForPreTraining.from_pretrained("hf/mobilebert")
"""
from __future__ import annotations

import os
import sys
from mobilebert_tf.errors import UsageError

HELP = "write a model directory as HF config.json + model.safetensors"


def configure(parser):
    """Flags of ``mobilebert export-hf`` (docs/checkpoints.md)."""
    parser.add_argument("model_dir", help="our model directory (also accepted: a TF1 checkpoint or HF directory)")
    parser.add_argument("--out", required=True, help="HF directory to write")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already in --out")


def _config_of(model_dir: str, fmt: str):
    """The config of any supported checkpoint, read without its weights."""
    from mobilebert_tf.checkpoints import hf, tf1
    from mobilebert_tf.modeldir import ModelDir

    if fmt == "mobilebert_tf":
        return ModelDir.read(model_dir).read_config()
    if fmt == "hf":
        return hf.read_hf_config(os.path.join(model_dir, hf.HF_CONFIG_FILE))
    return tf1.read_google_config(tf1.resolve(model_dir)[1])


def run(args) -> int:
    """Run ``mobilebert export-hf`` (docs/checkpoints.md); returns the exit code."""
    from mobilebert_tf.checkpoints import detect_format, hf
    from mobilebert_tf.commands.import_model import load_model
    from mobilebert_tf.config import ConfigError

    src, out = os.fspath(args.model_dir), os.fspath(args.out)
    if os.path.abspath(src) == os.path.abspath(out):
        raise UsageError("--out must differ from MODEL_DIR")
    if os.path.isfile(os.path.join(out, hf.HF_CONFIG_FILE)) and not args.overwrite:
        raise UsageError(f"{out} already holds a model (config.json); pass --overwrite to replace it")
    fmt = detect_format(src)
    reason = hf.hf_unsupported_reason(_config_of(src, fmt))  # refuse before loading any weights
    if reason:
        raise ConfigError(reason)
    model, _ = load_model(src, fmt)
    for warning in hf.save_hf_pretrained(model, out, vocab_file=model.model_dir.vocab_file):
        print(f"mobilebert export-hf: warning: {warning}", file=sys.stderr)
    print(f"wrote {hf.HF_ARCHITECTURES[type(model).__name__]} to {out} "
          f"({hf.HF_CONFIG_FILE}, {hf.HF_WEIGHTS_FILE})")
    return 0
