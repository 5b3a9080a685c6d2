"""biomed_jax: BiomedGPT-style vision-language models in JAX/Flax."""

import setuptools

# One tested set (CPU, Python 3.11). Newer releases exist; bump these together and re-run tests.
INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "grain==0.2.18",
    "tensorflow-datasets==4.9.10",
    "sentencepiece==0.2.3",
    "tokenizers==0.22.2",  # GPT-2 byte-level BPE of the OFA / BiomedGPT vocabulary
    "ml_collections==1.1.0",
    "clu==0.0.12",
    "pillow==13.0.0",
    "numpy==2.4.6",
    "safetensors==0.8.0",
    # Benchmark metrics: ROUGE, sacreBLEU, and coco-caption's BLEU/METEOR/CIDEr.
    "rouge-score==0.1.2",
    "sacrebleu==2.6.0",
    "pycocoevalcap==1.2",
    "regex==2026.11.15",
    # TensorBoard event files without TensorFlow.
    "tensorboardX==2.6.5",
    # The run's picture: loss curve and the model against the baselines (PNG).
    "matplotlib==3.11.2",
]

EXTRAS_REQUIRE = {
    # PyTorch and transformers serve only as a numerical oracle in tests and to read
    # pytorch_model.bin checkpoints; transformers 4.x still builds untied T5 v1.1 models.
    # scikit-learn: the oracle of the learned baselines (biomed_jax/metrics/baselines.py);
    # peft: the LoRA oracle.
    "test": ["pytest==9.2.0", "pytest-xdist==3.8.0", "torch==2.13.0", "transformers==4.57.1", "pydicom==3.0.2",
             "scikit-learn==1.9.1", "peft==0.18.0", "accelerate==1.12.0"],
    "dicom": ["pydicom==3.0.2"],
    "torch": ["torch==2.13.0"],
    "tpu": ["jax[tpu]==0.10.2"],
}

setuptools.setup(
    name="biomed_jax",
    version="0.1.0",
    description="Train, fine-tune, instruction-tune and evaluate BiomedGPT-style models in JAX/Flax.",
    packages=setuptools.find_packages(include=["biomed_jax", "biomed_jax.*"]),
    package_data={"biomed_jax": ["assets/**/*"]},
    include_package_data=True,
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)
