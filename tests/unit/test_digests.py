"""Content identity: FileDigest, build_manifest and read_source on real folders."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from registry_pipeline.core.digests import (
    MANIFEST_FORMAT,
    FileDigest,
    build_manifest,
    check_relative_path,
    digest_of_document,
)
from registry_pipeline.errors import BadInput, SourceError
from registry_pipeline.sources import read_source

pytestmark = pytest.mark.unit

HEX64 = re.compile(r"[0-9a-f]{64}")
FILES = {
    "adapter_config.json": b'{"r": 16}',
    "adapter_model.safetensors": b"\x00\x01weights\xff" * 100,
    "tokenizer/vocab.txt": b"hello\nworld\n",
    "README.md": b"# support-lora\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def fd(path: str, data: bytes = b"x") -> FileDigest:
    return FileDigest(path=path, size=len(data), sha256=sha(data))


# --- FileDigest and build_manifest ----------------------------------------------------------


def test_manifest_digest_is_64_lowercase_hex() -> None:
    manifest = build_manifest([fd("a"), fd("b/c", b"yy")])
    assert HEX64.fullmatch(manifest.digest)
    assert manifest.file_count == 2
    assert manifest.size == 3


def test_manifest_is_sorted_and_input_order_is_irrelevant() -> None:
    files = [fd("z"), fd("a/b"), fd("m", b"mm")]
    forward = build_manifest(files)
    backward = build_manifest(reversed(files))
    assert forward == backward
    assert [f.path for f in forward.files] == ["a/b", "m", "z"]


def test_manifest_digest_is_sha256_of_canonical_json() -> None:
    manifest = build_manifest([fd("a", b"1")])
    body = ('{"files":[["a",1,"' + sha(b"1") + '"]],"format":"' + MANIFEST_FORMAT + '"}').encode()
    assert manifest.digest == sha(body)


def test_manifest_to_dict_lists_every_file() -> None:
    manifest = build_manifest([fd("b"), fd("a", b"aa")])
    assert manifest.to_dict() == {
        "format": MANIFEST_FORMAT,
        "digest": manifest.digest,
        "files": [
            {"path": "a", "size": 2, "sha256": sha(b"aa")},
            {"path": "b", "size": 1, "sha256": sha(b"x")},
        ],
    }


def test_changing_one_file_hash_changes_manifest_digest() -> None:
    before = build_manifest([fd("a", b"1"), fd("b", b"2")])
    after = build_manifest([fd("a", b"1"), fd("b", b"3")])
    assert before.digest != after.digest


def test_duplicate_paths_are_refused() -> None:
    with pytest.raises(BadInput, match="'a' is listed twice"):
        build_manifest([fd("a", b"1"), fd("b"), fd("a", b"2")])


def test_empty_manifest_is_refused() -> None:
    with pytest.raises(BadInput, match="no files"):
        build_manifest([])


@pytest.mark.parametrize(
    "path",
    ["../x", "/abs", "a//b", "", ".", "./a", "a/./b", "a/../b", "a/", "a\\b", "a\x00b"],
)
def test_unclean_relative_paths_are_refused(path: str) -> None:
    with pytest.raises(BadInput):
        check_relative_path(path)
    with pytest.raises(BadInput):
        FileDigest(path=path, size=1, sha256=sha(b"x"))


@pytest.mark.parametrize("path", ["a", "a/b/c.bin", ".hidden", "a..b", "dir/.env"])
def test_clean_relative_paths_are_accepted(path: str) -> None:
    assert check_relative_path(path) == path


@pytest.mark.parametrize("digest", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, ""])
def test_file_digest_requires_64_lowercase_hex(digest: str) -> None:
    with pytest.raises(BadInput, match="64 lowercase hex"):
        FileDigest(path="a", size=1, sha256=digest)


def test_file_digest_refuses_negative_size() -> None:
    with pytest.raises(BadInput, match="negative"):
        FileDigest(path="a", size=-1, sha256=sha(b""))


def test_document_digest_ignores_key_order_but_not_format() -> None:
    one = digest_of_document({"a": 1, "b": [1, 2]}, format_name="stack/v1")
    two = digest_of_document({"b": [1, 2], "a": 1}, format_name="stack/v1")
    other = digest_of_document({"a": 1, "b": [1, 2]}, format_name="stack/v2")
    assert one == two
    assert one != other
    assert HEX64.fullmatch(one)


# --- read_source --------------------------------------------------------------------------


def test_source_manifest_lists_files_with_posix_paths_sizes_and_hashes(tmp_path: Path) -> None:
    manifest = read_source(write_files(tmp_path / "src", FILES))
    assert [(f.path, f.size, f.sha256) for f in manifest.files] == [
        (rel, len(data), sha(data)) for rel, data in sorted(FILES.items())
    ]
    assert HEX64.fullmatch(manifest.digest)
    assert all(HEX64.fullmatch(f.sha256) for f in manifest.files)


def test_same_content_gives_same_digest(tmp_path: Path) -> None:
    one = read_source(write_files(tmp_path / "one", FILES))
    two = read_source(write_files(tmp_path / "elsewhere" / "two", FILES))
    assert one.digest == two.digest
    assert one == two


def test_one_byte_changed_gives_a_new_digest(tmp_path: Path) -> None:
    before = read_source(write_files(tmp_path / "before", FILES))
    changed = dict(FILES)
    data = bytearray(changed["adapter_model.safetensors"])
    data[137] ^= 0x01
    changed["adapter_model.safetensors"] = bytes(data)
    after = read_source(write_files(tmp_path / "after", changed))
    assert after.digest != before.digest
    assert after.size == before.size


def test_file_creation_order_is_irrelevant(tmp_path: Path) -> None:
    forward = write_files(tmp_path / "forward", FILES)
    backward = write_files(tmp_path / "backward", dict(reversed(list(FILES.items()))))
    assert read_source(forward).digest == read_source(backward).digest


def test_renaming_a_file_changes_the_digest(tmp_path: Path) -> None:
    before = read_source(write_files(tmp_path / "before", FILES))
    renamed = {("NOTES.md" if k == "README.md" else k): v for k, v in FILES.items()}
    after = read_source(write_files(tmp_path / "after", renamed))
    assert after.digest != before.digest


def test_moving_a_file_into_a_subfolder_changes_the_digest(tmp_path: Path) -> None:
    flat = read_source(write_files(tmp_path / "flat", {"a": b"1", "b": b"2"}))
    nested = read_source(write_files(tmp_path / "nested", {"a": b"1", "sub/b": b"2"}))
    assert flat.digest != nested.digest


def test_empty_files_are_registered(tmp_path: Path) -> None:
    manifest = read_source(write_files(tmp_path / "src", {"empty": b""}))
    assert manifest.files == (FileDigest(path="empty", size=0, sha256=sha(b"")),)


def test_single_file_source_is_named_by_its_file_name(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"gguf-weights")
    manifest = read_source(path)
    assert manifest.files == (FileDigest(path="model.gguf", size=12, sha256=sha(b"gguf-weights")),)
    assert manifest.digest == build_manifest(manifest.files).digest


def test_single_file_has_same_digest_as_folder_holding_only_it(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "folder", {"model.gguf": b"gguf-weights"})
    assert read_source(folder / "model.gguf").digest == read_source(folder).digest


def test_missing_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        read_source(tmp_path / "nope")


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="holds no files") as info:
        read_source(empty)
    assert isinstance(info.value, BadInput)


def test_folder_of_empty_folders_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src" / "a" / "b").mkdir(parents=True)
    with pytest.raises(SourceError, match="holds no files"):
        read_source(tmp_path / "src")


def test_symlink_pointing_outside_is_refused_naming_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside")
    src = write_files(tmp_path / "src", {"ok.txt": b"inside"})
    (src / "sub").mkdir()
    os.symlink(secret, src / "sub" / "leak.txt")
    with pytest.raises(SourceError) as info:
        read_source(src)
    message = str(info.value)
    assert "'sub/leak.txt'" in message
    assert "outside the source folder" in message
    assert info.value.path == str(src / "sub" / "leak.txt")


def test_relative_symlink_escaping_with_dotdot_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_bytes(b"outside")
    src = write_files(tmp_path / "src", {"ok.txt": b"inside"})
    os.symlink("../secret.txt", src / "leak.txt")
    with pytest.raises(SourceError, match=r"'leak\.txt' is a symlink pointing outside"):
        read_source(src)


def test_symlink_into_a_sibling_folder_sharing_the_name_prefix_is_outside(tmp_path: Path) -> None:
    sibling = write_files(tmp_path / "src-other", {"x.bin": b"x"})
    src = write_files(tmp_path / "src", {"ok.txt": b"inside"})
    os.symlink(sibling / "x.bin", src / "x.bin")
    with pytest.raises(SourceError, match="outside the source folder"):
        read_source(src)


def test_symlinked_folder_pointing_outside_is_refused(tmp_path: Path) -> None:
    outside = write_files(tmp_path / "outside", {"x.bin": b"x"})
    src = write_files(tmp_path / "src", {"ok.txt": b"inside"})
    os.symlink(outside, src / "linked", target_is_directory=True)
    with pytest.raises(SourceError, match="'linked' is a symlink pointing outside"):
        read_source(src)


def test_symlink_inside_the_folder_is_followed(tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", {"weights.bin": b"w" * 10})
    os.symlink("weights.bin", src / "alias.bin")
    manifest = read_source(src)
    assert [(f.path, f.sha256) for f in manifest.files] == [
        ("alias.bin", sha(b"w" * 10)),
        ("weights.bin", sha(b"w" * 10)),
    ]


def test_broken_symlink_inside_is_refused(tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", {"ok.txt": b"inside"})
    os.symlink("missing.bin", src / "dangling.bin")
    with pytest.raises(SourceError, match=r"'dangling\.bin' is a broken symlink"):
        read_source(src)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_in_folder_is_refused(tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", {"ok.txt": b"inside"})
    os.mkfifo(src / "pipe")
    with pytest.raises(SourceError, match="'pipe' is a special file"):
        read_source(src)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_as_source_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SourceError, match="not a regular file or folder"):
        read_source(tmp_path / "pipe")


def test_file_name_with_control_character_is_refused(tmp_path: Path) -> None:
    src = write_files(tmp_path / "src", {"ok.txt": b"inside", "bad\nname": b"x"})
    with pytest.raises(SourceError, match="control character"):
        read_source(src)
