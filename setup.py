"""t5x_style: three Transformer architectures x pretraining objectives, side by side, in JAX/Flax."""

import setuptools

setuptools.setup(
    name="t5x_style",
    version="0.1.0",
    description="Causal decoder, prefix-LM decoder and encoder-decoder in Flax, with the "
    "objectives, training, sharding and zero/few-shot evaluation to compare them.",
    packages=setuptools.find_packages(include=["t5x_style", "t5x_style.*"]),
    python_requires=">=3.12",  # JAX >= 0.11 needs 3.12; on 3.11 pip stops at JAX 0.10.2.
    install_requires=[
        "jax>=0.12,<0.13",
        "flax>=0.12.8,<0.13",
        "optax>=0.2.8,<0.3",
        "orbax-checkpoint>=0.12.8,<0.13",
        "tensorflow-datasets>=4.9.10,<5",
        "importlib_resources>=6",  # tfds 4.9.10 imports it without declaring it.
        "array_record>=0.8.6,<0.9",
        "grain>=0.2.18,<0.3",
        "absl-py>=2.1,<3",
        "ml_collections>=1.1,<2",
        "sentencepiece>=0.2.1,<0.3",
        "numpy>=2.0,<3",
        "tensorboardX>=2.6,<3",
        "matplotlib>=3.8,<4",  # Experiment reports' plots.
    ],
    extras_require={
        # nbclient + ipykernel execute colab/quickstart.ipynb in the tests.
        "test": ["pytest>=8,<10", "nbclient>=0.11,<0.12", "nbformat>=5.11,<6", "ipykernel>=7.4,<8"],
        "tf": ["tensorflow-cpu>=2.21,<3"],
    },
)
