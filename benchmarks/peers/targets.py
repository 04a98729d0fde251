"""Issue #8's targets, judged from the measured rows: the ratios, PASS/MISS, and which exports to
profile when one is missed."""
from __future__ import annotations

PRECISION = {"none": "fp32", "dynamic": "dynamic-range int8", "int8": "full int8",
             "int8-mixed": "int8, attention float", "fp32": "fp32", "ort-int8": "dynamic int8"}
TARGETS = {"fp32_vs_ort": 0.9, "int8_vs_ort": 0.7, "bert_over_mobilebert": 4.2}


def ratio_check(name, value, target, kind) -> dict:
    ok = value <= target if kind == "<=" else value >= target
    return {"name": name, "value": value, "target": f"{kind} {target}", "status": "PASS" if ok else "MISS"}


def best_row(rows: list[dict], model: str, runtime: str, precision: str, threads: int | None = None) -> dict | None:
    """The fastest (p50) row of ``model``/``precision`` whose runtime starts with ``runtime`` (so "ORT"
    picks the better of ORT's spinning and no-spin settings), at ``threads`` if given."""
    hits = [r for r in rows if r["model"] == model and r["runtime"].startswith(runtime) and r["precision"] == precision
            and (threads is None or r.get("threads", threads) == threads)]
    return min(hits, key=lambda r: r["p50_ms"]) if hits else None


def compute_ratios(rows: list[dict], threads: int | None = None) -> list[dict]:
    """The issue's targets (PASS/MISS) and reference ratios, from the rows at ``threads``."""
    if threads is not None:
        rows = [r for r in rows if r.get("threads", threads) == threads]
    out = []

    def pair(model_a, rt_a, prec_a, model_b, rt_b, prec_b):
        a, b = best_row(rows, model_a, rt_a, prec_a), best_row(rows, model_b, rt_b, prec_b)
        return (a, b) if a and b else (None, None)

    ours, ort = pair("mobilebert", "TFLite", "fp32", "mobilebert", "ORT", "fp32")
    if ours:
        out.append(ratio_check(f"MobileBERT fp32: our TFLite / {ort['runtime']}", ours["p50_ms"] / ort["p50_ms"],
                               TARGETS["fp32_vs_ort"], "<="))
    # the target row: our CPU int8 export (int8 weights and activations; the attention score path float)
    ours, ort = pair("mobilebert", "TFLite", PRECISION["int8-mixed"], "mobilebert", "ORT", "dynamic int8")
    if ours:
        out.append(ratio_check(f"MobileBERT int8: our TFLite {PRECISION['int8-mixed']} / {ort['runtime']} "
                               f"dynamic int8", ours["p50_ms"] / ort["p50_ms"], TARGETS["int8_vs_ort"], "<="))
    for precision in ("full int8", "dynamic-range int8"):
        ours, ort = pair("mobilebert", "TFLite", precision, "mobilebert", "ORT", "dynamic int8")
        if ours:
            out.append({"name": f"MobileBERT int8 (reference): our TFLite {precision} / {ort['runtime']} dynamic int8",
                        "value": ours["p50_ms"] / ort["p50_ms"], "target": "-", "status": "info"})
    for runtime, precision, target in (("TFLite", "fp32", True), ("ORT", "fp32", False), ("torch", "fp32", False),
                                       ("TFLite", PRECISION["int8-mixed"], False), ("TFLite", "full int8", False),
                                       ("TFLite", "dynamic-range int8", False), ("ORT", "dynamic int8", False)):
        bb, mb = pair("bert_base", runtime, precision, "mobilebert", runtime, precision)
        if not bb:
            continue
        name = f"BERT_BASE / MobileBERT, {mb['runtime']} {precision}"
        if target:
            out.append(ratio_check(name, bb["p50_ms"] / mb["p50_ms"], TARGETS["bert_over_mobilebert"], ">="))
        else:
            out.append({"name": name + " (reference)", "value": bb["p50_ms"] / mb["p50_ms"],
                        "target": f">= {TARGETS['bert_over_mobilebert']}", "status": "info"})
    return out


def profile_targets(ratios: list[dict], presets, tflite_modes, force: bool = False) -> list[tuple[str, str]]:
    """(preset, TFLite mode) pairs to profile per op: those behind each missed target (all with ``force``)."""
    missed = [r["name"] for r in ratios if r["status"] == "MISS"]
    wanted = []
    if force or any(n.startswith("MobileBERT fp32") for n in missed):
        wanted.append(("mobilebert", "none"))
    if force or any(n.startswith("MobileBERT int8") for n in missed):
        wanted += [("mobilebert", "int8-mixed"), ("mobilebert", "int8"), ("mobilebert", "dynamic")]
    if force or any(n.startswith("BERT_BASE") for n in missed):
        wanted += [("mobilebert", "none"), ("bert_base", "none")]
    return [w for w in dict.fromkeys(wanted) if w[0] in presets and w[1] in tflite_modes]

