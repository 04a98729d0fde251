"""The peers' runtimes as the measuring worker and the agreement check load them: an HF directory in
torch eager wrapped to our classifier's contract, and an ONNX Runtime CPU session."""
from __future__ import annotations

INPUT_NAMES = ("ids", "mask", "segment_ids")


def load_torch(hf_dir, hf_class: str, threads: int | None = None):
    """The HF model wrapped as ``(ids, mask, segment_ids) int32 -> probability``, eval mode."""
    import torch
    import transformers

    if threads:
        torch.set_num_threads(threads)
    model, info = getattr(transformers, hf_class).from_pretrained(str(hf_dir), output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise RuntimeError(f"HF {hf_class} did not load {hf_dir} cleanly: {problems}")

    class Probability(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask, segment_ids):
            out = self.inner(input_ids=ids.long(), attention_mask=mask.long(), token_type_ids=segment_ids.long())
            return torch.softmax(out.logits, dim=-1)

    return Probability(model.eval()).eval()



def ort_session(path, threads: int, profile_prefix: str | None = None, spinning: bool = True):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # spinning (ORT's default) busy-waits between ops: fastest on idle cores, slow when they are shared
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

