"""Analytic FLOP counts, checked op by op against TensorFlow's profiler."""
import json
import re

import pytest
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from mobilebert_tf import PRESETS, MobileBertConfig, MobileBertEncoder, MobileBertForPreTraining
from mobilebert_tf.cli import main
from mobilebert_tf.flops import count_flops


def _profiler_matmul_flops(model, seq):
    """FLOPs of every MatMul node in the frozen forward graph, keyed by its layer path."""
    spec = {k: tf.TensorSpec([1, seq], tf.int32) for k in ("input_ids", "input_mask", "segment_ids")}
    fn = tf.function(lambda x: model(x)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(fn).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    root = tf.compat.v1.profiler.profile(graph=graph, cmd="scope", options=opts)
    flops = {}

    def walk(node):
        if re.search(r"/(Tensordot/)?MatMul(_\d+)?$", node.name) and node.float_ops:
            path = re.sub(r"/(Tensordot/)?MatMul(_\d+)?$", "", node.name)
            flops[path] = flops.get(path, 0) + node.float_ops
        for child in node.children:
            walk(child)

    walk(root)
    return flops


@pytest.mark.parametrize("preset", list(PRESETS))
def test_flops_match_tf_profiler_op_by_op(preset):
    """Every dense layer and both attention products (Q·Kᵀ, P·V: BatchMatMul nodes of the attention
    layer) against the profiler's count of the same nodes."""
    config = MobileBertConfig.from_preset(preset, num_hidden_layers=2)
    seq = 64
    measured = _profiler_matmul_flops(MobileBertEncoder(config), seq)
    analytic = count_flops(config, seq)
    expected = {}
    for name, flops in analytic.ops.items():
        path = re.sub(r"/(scores|context)$", "", name).removeprefix("encoder/")
        expected[path] = expected.get(path, 0) + flops
    assert expected == {k.removeprefix("encoder/"): v for k, v in measured.items()}
    assert sum(measured.values()) == analytic.total()


def test_mlm_head_flops():
    config = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=1)
    fc = count_flops(config, 32, heads="pretraining")
    assert fc.ops["mlm/logits"] == 2 * 32 * 512 * 30522
    measured = _profiler_matmul_flops(MobileBertForPreTraining(config), 32)
    head = {k.split("/", 1)[1] if k.startswith("mobilebert_for_pretraining/") else k: v for k, v in measured.items()}
    assert head["mlm"] == fc.ops["mlm/logits"] and head["mlm/transform"] == fc.ops["mlm/transform"]
    assert sum(measured.values()) == fc.total()


def test_paper_scale_figures():
    """Sanity against the paper (seq 128): MobileBERT ~5.4 GFLOPs, Tiny ~3.1, BERT_BASE ~22."""
    g = {p: count_flops(MobileBertConfig.from_preset(p), 128).total() / 1e9 for p in PRESETS}
    assert 5.2 < g["mobilebert"] < 5.6 and 2.9 < g["mobilebert_tiny"] < 3.2 and 21.5 < g["bert_base"] < 23
    assert 4.0 < g["bert_base"] / g["mobilebert"] < 4.4


def test_info_cli(capsys):
    assert main(["info", "--preset", "mobilebert_tiny", "--seq-len", "128", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["params_encoder"] == 15_485_696 and row["seq_len"] == 128
    assert main(["info", "--all"]) == 0
    table = capsys.readouterr().out
    assert all(p in table for p in PRESETS) and "24,581,888" in table


def test_info_cli_errors(capsys):
    assert main(["info", "--seq-len", "1024"]) == 1
    assert "exceeds max_position_embeddings" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2
    assert "unknown command" in capsys.readouterr().err
