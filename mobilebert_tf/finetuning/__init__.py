"""Fine-tuning, evaluation and prediction on GLUE (classification, STS-B regression) and SQuAD v1.1/v2.0.

See docs/finetuning.md. ``finetune`` / ``evaluate_model`` are what ``mobilebert finetune`` / ``evaluate`` run;
``train`` is the loop on already encoded data; ``Predictor`` backs ``mobilebert predict``. The optimizer
schedule, no-decay rule, run logs and config base are the training package's (``mobilebert_tf.training``).
"""
from mobilebert_tf.finetuning.evaluation import EvalResult, evaluate_task, score_predictions, write_predictions
from mobilebert_tf.finetuning.modeling import init_model, load_task_model
from mobilebert_tf.finetuning.pipeline import evaluate_model, finetune, load_task_data
from mobilebert_tf.finetuning.prediction import Predictor
from mobilebert_tf.finetuning.tasks import TASK_NAMES, FinetuneTask, TaskData, get_finetune_task
from mobilebert_tf.finetuning.trainer import FinetuneConfig, FinetuneResult, train

__all__ = ["FinetuneConfig", "FinetuneResult", "FinetuneTask", "TaskData", "TASK_NAMES", "EvalResult", "Predictor",
           "get_finetune_task", "finetune", "evaluate_model", "load_task_data", "train",
           "evaluate_task", "score_predictions", "write_predictions", "init_model", "load_task_model"]
