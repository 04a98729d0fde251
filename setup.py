from setuptools import find_packages, setup

# Pinned: the TF / tf-keras / tensorflow-text / tfmot versions must move together.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",          # not tensorflow-cpu: tensorflow-text depends on `tensorflow`
    "tf-keras==2.21.0",
    "tensorflow-text==2.21.1",
    "tensorflow-model-optimization==0.8.1",
    "ai-edge-litert==2.3.0",
    "absl-py==1.4.0",
    "numpy==2.4.6",
    "safetensors==0.8.0",
    "tqdm==4.70.1",
]
EXTRAS = {
    "dev": [
        "pytest==9.2.0",
        "ruff==0.17.6",            # lint (ruff.toml), run by make test
        "hypothesis==6.170.17",    # property tests of the readers (tests/test_fuzz_readers.py)
        "torch==2.13.0",           # CPU build; parity peer only
        "transformers==5.24.0",
        "scipy==1.17.1",
        "scikit-learn==1.8.0",
        "matplotlib==3.10.7",      # benchmark --plot and benchmarks/results/latency.png
        "onnx==1.23.2",            # benchmarks/peers.py: HF model -> ONNX Runtime peer (tests/test_peers.py)
        "onnxruntime==1.32.0",
        "onnxscript==0.7.2",       # torch.onnx.export(dynamo=True) needs it
    ],
    "peers": [                     # python -m mobilebert_tf.benchmarks.peers: HF torch / ONNX Runtime peers
        "torch==2.13.0",
        "transformers==5.24.0",
        "onnx==1.23.2",
        "onnxruntime==1.32.0",
        "onnxscript==0.7.2",
    ],
}

setup(
    name="mobilebert-tf",
    version="0.1.0",
    description="MobileBERT in TensorFlow/Keras: models, distillation, TFLite export, benchmarks",
    python_requires=">=3.11,<3.12",
    # export/ and benchmarks/ stay at the top of the repository (the design card's layout) but install
    # inside the package, as mobilebert_tf.export and mobilebert_tf.benchmarks: no top-level module of
    # such a common name lands in site-packages. mobilebert_tf/__init__.py gives a source checkout the
    # same names.
    packages=(find_packages(include=["mobilebert_tf", "mobilebert_tf.*"])
              + [f"mobilebert_tf.{p}" for p in find_packages(include=["export", "export.*",
                                                                      "benchmarks", "benchmarks.*"])]),
    package_dir={"mobilebert_tf.export": "export", "mobilebert_tf.benchmarks": "benchmarks"},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["mobilebert=mobilebert_tf.cli:main"]},
)
