"""Generate the example estate's artifacts in genuine formats, small and deterministic.

Each output is a training job's drop for the landing folder: the files plus a
``registry.yaml`` manifest marked complete. Run ``python examples/generate.py OUT`` to write
``OUT/<wave>/<entry>/<run-id>/``; the same inputs give the same bytes (and digests).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from safetensors.numpy import save_file

SEED = 20261127


def _json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def _tensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def _card(path: Path, front: dict[str, Any], body: str) -> None:
    _text(path, "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n" + body.strip() + "\n")


def base_model(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    hidden, layers, vocab = 64, 2, 256
    _json(
        out / "config.json",
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": hidden,
            "intermediate_size": hidden * 4,
            "num_hidden_layers": layers,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "vocab_size": vocab,
            "max_position_embeddings": 2048,
            "torch_dtype": "float16",
        },
    )
    tensors = {"model.embed_tokens.weight": rng.standard_normal((vocab, hidden), np.float32)}
    for i in range(layers):
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[f"model.layers.{i}.self_attn.{proj}.weight"] = rng.standard_normal(
                (hidden, hidden), np.float32
            ).astype(np.float16)
    _tensors(out / "model.safetensors", tensors, {"format": "pt"})
    _card(
        out / "README.md",
        {"license": "llama3.2", "language": ["en"], "pipeline_tag": "text-generation"},
        "# llama-3.2-1b-instruct (miniature)\n\nA tiny stand-in with the real layout.",
    )
    return {"params": {"source": "upstream release", "dtype": "float16"}}


def support_tickets(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    n = 500
    topics = ["billing", "login", "shipping", "refund", "bug"]
    _parquet(
        out / "tickets.parquet",
        pa.table(
            {
                "ticket_id": pa.array(range(1, n + 1), pa.int64()),
                "topic": [topics[i] for i in rng.integers(0, len(topics), n)],
                "resolved_in_hours": rng.gamma(2.0, 6.0, n).round(1),
            }
        ),
    )
    _text(out / "DATASHEET.md", "# Support tickets 2026-Q3\n\nPII removed with the v4 scrubber.\n")
    return {"params": {"rows": n, "pii_scrubber": "v4", "snapshot": "2026-10-01"}}


def support_lora(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    r, hidden = 8, 64
    _json(
        out / "adapter_config.json",
        {
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": "llama-3.2-1b-instruct",
            "r": r,
            "lora_alpha": 16,
            "lora_dropout": 0.05,
            "target_modules": ["q_proj", "v_proj"],
        },
    )
    tensors = {}
    for i in range(2):
        for proj in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            tensors[f"{prefix}.lora_A.weight"] = rng.standard_normal((r, hidden), np.float32)
            tensors[f"{prefix}.lora_B.weight"] = np.zeros((hidden, r), np.float32)
    _tensors(out / "adapter_model.safetensors", tensors, {"format": "pt"})
    _json(
        out / "eval_results.json",
        {
            "metrics": {"accuracy": 0.86, "hallucination_rate": 0.03},
            "details": {"cases": 200, "harness": "support-evals runner 1.2"},
        },
    )
    return {
        "params": {"learning_rate": 0.0002, "epochs": 3, "r": r, "code_commit": "3f2c1e9"},
        "upstream": ["llama-3.2-1b-instruct@1", "support-tickets-2026q3@1"],
        "evals": [{"file": "eval_results.json", "suite": "support-evals@1"}],
    }


def support_prompt(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    _text(
        out / "prompt.jinja",
        "You are the support assistant of {{ company }}. You are an AI system; say so if "
        "asked.\nAnswer only from these articles:\n{% for doc in documents %}- {{ doc }}\n"
        "{% endfor %}\nCustomer: {{ question }}\n",
    )
    _json(out / "prompt.json", {"variables": ["company", "documents", "question"]})
    return {"params": {"template_engine": "jinja2"}}


def bge_small(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    dim = 32
    _json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
        ],
    )
    _json(out / "config.json", {"architectures": ["BertModel"], "hidden_size": dim})
    _json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": True,
            "pooling_mode_mean_tokens": False,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    _tensors(
        out / "model.safetensors",
        {"embeddings.word_embeddings.weight": rng.standard_normal((128, dim), np.float32)},
        {"format": "pt"},
    )
    return {"params": {"dimension": dim, "normalize": True}}


def kb_docs(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    titles = [
        f"How do I {verb}?" for verb in ("reset my password", "get a refund", "track a parcel")
    ]
    _parquet(
        out / "articles.parquet",
        pa.table({"article_id": [1, 2, 3], "title": titles, "updated": ["2026-11-01"] * 3}),
    )
    return {"params": {"snapshot": "2026-11-01", "articles": len(titles)}}


def kb_index(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    vectors = rng.standard_normal((12, 32), np.float32)
    _parquet(
        out / "vectors.parquet",
        pa.table(
            {
                "chunk_id": list(range(12)),
                "article_id": [1 + i % 3 for i in range(12)],
                "embedding": [v.tolist() for v in vectors],
            }
        ),
    )
    _json(
        out / "index.json",
        {
            "embedding_model": "bge-small-en@1",
            "chunking": {"strategy": "section", "max_tokens": 256},
            "documents": 3,
            "chunks": 12,
            "source_snapshot": "kb-docs-2026-11@1",
        },
    )
    return {
        "params": {"chunking": "section/256"},
        "upstream": ["bge-small-en@1", "kb-docs-2026-11@1"],
    }


def eval_suite(
    name: str, metrics: list[str]
) -> Callable[[Path, np.random.Generator], dict[str, Any]]:
    def make(out: Path, rng: np.random.Generator) -> dict[str, Any]:
        _text(out / "suite.yaml", yaml.safe_dump({"suite": name, "metrics": metrics}))
        _text(
            out / "cases.jsonl",
            "".join(json.dumps({"id": i, "input": f"case {i}"}) + "\n" for i in range(20)),
        )
        return {"params": {"cases": 20}}

    return make


def loan_applications(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    n = 400
    _parquet(
        out / "applications.parquet",
        pa.table(
            {
                "income": rng.normal(42000, 9000, n).round(0),
                "debt_ratio": rng.uniform(0, 0.8, n).round(3),
                "defaulted": rng.random(n) < 0.12,
            }
        ),
    )
    return {"params": {"rows": n, "window": "2026-01..2026-06"}}


def credit_clf(out: Path, rng: np.random.Generator) -> dict[str, Any]:
    _tensors(
        out / "model.safetensors",
        {"coef": rng.standard_normal((2,), np.float32), "intercept": np.array([-1.9], np.float32)},
        {"format": "numpy"},
    )
    _json(
        out / "config.json",
        {"estimator": "logistic_regression", "features": ["income", "debt_ratio"]},
    )
    _json(
        out / "eval_results.json",
        {"metrics": {"auc": 0.81, "approval_rate_parity": 0.91, "ece": 0.04}},
    )
    return {
        "params": {"C": 1.0, "class_weight": "balanced", "code_commit": "9b81d20"},
        "upstream": ["loan-applications-2026h1@1"],
        "evals": [{"file": "eval_results.json", "suite": "credit-evals@1"}],
    }


#: Waves: a wave's upstream must be registered before it lands.
WAVES: list[dict[str, Callable[[Path, np.random.Generator], dict[str, Any]]]] = [
    {
        "llama-3.2-1b-instruct": base_model,
        "support-tickets-2026q3": support_tickets,
        "support-prompt": support_prompt,
        "bge-small-en": bge_small,
        "kb-docs-2026-11": kb_docs,
        "support-evals": eval_suite("support-evals", ["accuracy", "hallucination_rate"]),
        "loan-applications-2026h1": loan_applications,
        "credit-evals": eval_suite("credit-evals", ["auc", "approval_rate_parity"]),
    },
    {
        "support-lora": support_lora,
        "kb-index": kb_index,
        "credit-risk-clf": credit_clf,
    },
]


def generate(root: Path) -> list[list[Path]]:
    """Write every wave's outputs under ``root``; returns the output folders per wave."""
    rng = np.random.default_rng(SEED)
    waves: list[list[Path]] = []
    for number, wave in enumerate(WAVES, start=1):
        folders = []
        for entry, make in wave.items():
            out = root / f"wave{number}" / entry / "run-0001"
            manifest = {"entry": entry, **make(out, rng), "complete": True}
            _text(out / "registry.yaml", yaml.safe_dump(manifest, sort_keys=False))
            folders.append(out)
        waves.append(folders)
    return waves


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".registry/demo/outputs")
    for wave in generate(target):
        for folder in wave:
            print(folder)
