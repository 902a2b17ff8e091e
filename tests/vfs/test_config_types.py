"""Typed config values: strings from YAML or ``${ENV}`` are coerced strictly, bad values are
errors that name the origin, root, option, value and expected type (never a secret)."""

from __future__ import annotations

import typing
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from filestore_vfs import (
    BackendUnavailableError,
    ConfigError,
    MemoryFile,
    VirtualFileSystem,
)
from filestore_vfs.vfs._options import (
    BOOL_FALSE,
    BOOL_TRUE,
    OPTION_RANGES,
    option_types,
    understood,
)
from filestore_vfs.vfs._registry import get_root_class, registry
from filestore_vfs.vfs._root import Root

FALSE_SPELLINGS = ["false", "no", "0", "off", "False", "OFF"]
TRUE_SPELLINGS = ["true", "yes", "1", "on", "TRUE", "Yes"]

#: Options of every built-in root class that can be constructed without a server (connecting
#: is lazy). ``tmp`` is a temporary directory; the root is named ``d``.
BASE_SPECS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "ArchiveFile": lambda tmp: {"archive": str(tmp / "a.zip")},
    "AzureBlobFile": lambda tmp: {"container": "c", "account_name": "acct"},
    "FsspecFile": lambda tmp: {"protocol": "memory"},
    "HttpFile": lambda tmp: {"download": "http://127.0.0.1:9/", "upload": "http://127.0.0.1:9/"},
    "LocalFile": lambda tmp: {"root": str(tmp / "local")},
    "MemoryFile": lambda tmp: {},
    "RedisFile": lambda tmp: {},
    "S3File": lambda tmp: {"bucket": "b", "endpoint_url": "http://127.0.0.1:9"},
    "SFTPFile": lambda tmp: {
        "hostname": "127.0.0.1",
        "root": "/data",
        "known_hosts": str(tmp / "known_hosts"),
    },
    "SMBFile": lambda tmp: {"hostname": "127.0.0.1", "share": "data"},
    "SSHFile": lambda tmp: {
        "hostname": "127.0.0.1",
        "root": "/data",
        "known_hosts": str(tmp / "known_hosts"),
    },
    "TempFile": lambda tmp: {"root": str(tmp / "temp")},
}
BUILT_IN = "filestore_vfs.vfs.backends."
#: Where a root keeps a bool option, when not under the option's own name.
BOOL_ATTRIBUTE = {"insecure_accept_any_host_key": "insecure"}


def _available(name: str) -> type[Root] | None:
    try:
        return get_root_class(name)
    except BackendUnavailableError:
        return None


def _bool_options() -> Iterator[tuple[str, str]]:
    for name in sorted(BASE_SPECS):
        cls = _available(name)
        if cls is None:
            continue
        for option, declared in option_types(cls).items():
            if bool in (declared.type, *typing.get_args(declared.type)):
                yield name, option


BOOL_OPTIONS = list(_bool_options())


def _yaml(cls: str, spec: dict[str, Any], **options: Any) -> str:
    """A config with one root ``d``; option values given as strings are quoted in YAML."""
    return yaml.safe_dump(
        {"defaults": False, "roots": {"d": {"class": cls, **spec, **options}}},
        default_style=None,
    )


def _build(tmp_path: Path, cls: str, **options: Any) -> Root:
    spec = BASE_SPECS[cls](tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # verify_tls/insecure ... true warn
        vfs = VirtualFileSystem.from_yaml(_yaml(cls, spec, **options))
    return vfs.roots["d"]


def _value(root: Root, option: str) -> Any:
    return getattr(root, BOOL_ATTRIBUTE.get(option, option))


def _build_error(text_or_mapping: str | dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        if isinstance(text_or_mapping, str):
            VirtualFileSystem.from_yaml(text_or_mapping)
        else:
            VirtualFileSystem.from_config(text_or_mapping)
    return str(info.value)


# -- the layer knows every option of every root class ---------------------------------------
def test_every_built_in_class_has_a_base_spec() -> None:
    built_in = {n for n, (target, _) in registry.items() if target.startswith(BUILT_IN)}
    assert set(BASE_SPECS) == built_in


@pytest.mark.parametrize("name", sorted(BASE_SPECS))
def test_every_option_has_a_type_the_layer_understands(name: str) -> None:
    cls = _available(name)
    if cls is None:
        pytest.skip(f"{name}'s extra is not installed")
    declared = option_types(cls)
    assert {"read_only", "writer_root", "writer_path_semantics"} <= set(declared)
    not_understood = {k: v for k, v in declared.items() if not understood(v.type)}
    assert not_understood == {}, f"{name}: options without a type the config layer checks"
    for option in OPTION_RANGES.keys() & declared.keys():
        kinds = {declared[option].type, *typing.get_args(declared[option].type)}
        assert kinds & {int, float}, f"{name}.{option} has a range but is not a number"


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        ("LocalFile", {"read_only", "mkdir"}),
        ("HttpFile", {"read_only", "require_confinement", "verify_tls", "prefetch"}),
        ("SFTPFile", {"read_only", "mkdir", "insecure_accept_any_host_key"}),
        ("SMBFile", {"read_only", "mkdir", "encrypt"}),
        ("S3File", {"read_only", "anon"}),
    ],
)
def test_bool_options_are_found(cls: str, options: set[str]) -> None:
    if _available(cls) is None:
        pytest.skip(f"{cls}'s extra is not installed")
    assert {option for name, option in BOOL_OPTIONS if name == cls} == options


# -- bools: the bug this layer fixes -----------------------------------------------------------
@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
@pytest.mark.parametrize(("cls", "option"), BOOL_OPTIONS)
def test_false_spellings_from_quoted_yaml(
    tmp_path: Path, cls: str, option: str, spelling: str
) -> None:
    text = _yaml(cls, BASE_SPECS[cls](tmp_path), **{option: spelling})
    assert f"'{spelling}'" in text or f'"{spelling}"' in text  # really a string in YAML
    assert _value(_build(tmp_path, cls, **{option: spelling}), option) is False


@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
@pytest.mark.parametrize(("cls", "option"), BOOL_OPTIONS)
def test_false_spellings_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cls: str, option: str, spelling: str
) -> None:
    monkeypatch.setenv("VFS_TEST_FLAG", spelling)
    assert _value(_build(tmp_path, cls, **{option: "${VFS_TEST_FLAG}"}), option) is False


@pytest.mark.parametrize("spelling", TRUE_SPELLINGS)
@pytest.mark.parametrize(("cls", "option"), BOOL_OPTIONS)
def test_true_spellings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cls: str, option: str, spelling: str
) -> None:
    monkeypatch.setenv("VFS_TEST_FLAG", spelling)
    assert _value(_build(tmp_path, cls, **{option: spelling}), option) is True
    assert _value(_build(tmp_path, cls, **{option: "${VFS_TEST_FLAG}"}), option) is True


@pytest.mark.parametrize(("cls", "option"), BOOL_OPTIONS)
@pytest.mark.parametrize("value", [True, False])
def test_yaml_bools_keep_working(tmp_path: Path, cls: str, option: str, value: bool) -> None:
    assert _value(_build(tmp_path, cls, **{option: value}), option) is value


def test_spellings_are_the_documented_ones() -> None:
    assert {"true", "yes", "on", "1"} == BOOL_TRUE
    assert {"false", "no", "off", "0"} == BOOL_FALSE


@pytest.mark.parametrize("cls", ["SFTPFile", "SSHFile"])
@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
def test_host_key_checking_stays_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cls: str, spelling: str
) -> None:
    if _available(cls) is None:
        pytest.skip("sftp extra not installed")
    (tmp_path / "known_hosts").write_text("")
    monkeypatch.setenv("VFS_TEST_FLAG", spelling)
    spec = BASE_SPECS[cls](tmp_path)
    for value in (spelling, "${VFS_TEST_FLAG}"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the insecure warning would fail the test
            text = _yaml(cls, spec, insecure_accept_any_host_key=value)
            root = VirtualFileSystem.from_yaml(text).roots["d"]
        assert root.insecure is False
        connect = root._connect_options()  # type: ignore[attr-defined]
        assert connect["known_hosts"] == str(tmp_path / "known_hosts")


@pytest.mark.parametrize("spelling", FALSE_SPELLINGS)
def test_read_only_false_allows_writes(tmp_path: Path, spelling: str) -> None:
    vfs = VirtualFileSystem.from_yaml(
        f"roots: {{d: {{class: LocalFile, root: '{tmp_path}', read_only: '{spelling}'}}}}"
    )
    vfs.write_bytes("/d/x", b"1")
    assert (tmp_path / "x").read_bytes() == b"1"


def test_verify_tls_keeps_its_ca_bundle_and_false_warns(tmp_path: Path) -> None:
    if _available("HttpFile") is None:
        pytest.skip("http extra not installed")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    assert _build(tmp_path, "HttpFile", verify_tls=str(bundle)).verify_tls == str(bundle)
    spec = {"class": "HttpFile", **BASE_SPECS["HttpFile"](tmp_path), "verify_tls": "no"}
    with pytest.warns(UserWarning, match="verify_tls is false"):
        VirtualFileSystem({"d": spec}, defaults=False)


@pytest.mark.parametrize(
    ("text", "defaults"),
    [("", True), ("defaults: 'no'\n", False), ("defaults: off\n", False), ("defaults: 1\n", True)],
)
def test_defaults_key_is_a_strict_bool(text: str, defaults: bool) -> None:
    vfs = VirtualFileSystem.from_yaml(text + "roots: {d: {class: MemoryFile}}\n")
    assert ("memory" in vfs.roots) is defaults


# -- numbers and strings -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "option", "given", "expected"),
    [
        ("HttpFile", "retries", "5", 5),
        ("HttpFile", "retries", 5, 5),
        ("HttpFile", "timeout", "1.5", 1.5),
        ("HttpFile", "timeout", "2", 2.0),
        ("HttpFile", "timeout", 2, 2.0),
        ("HttpFile", "block_size", "65536", 65536),
        ("HttpFile", "retry_backoff", "0", 0.0),
        ("SFTPFile", "port", "2222", 2222),
        ("SFTPFile", "lock_timeout", "60", 60.0),
        ("SFTPFile", "lock_timeout", 0, 0.0),
        ("SMBFile", "port", " 1445 ", 1445),
        ("RedisFile", "db", "3", 3),
        ("RedisFile", "expiry", "0.5", 0.5),
        ("AzureBlobFile", "lease_duration", "60", 60),
        ("HttpFile", "cache", "stream", "stream"),
    ],
)
def test_numbers_from_strings(
    tmp_path: Path, cls: str, option: str, given: Any, expected: Any
) -> None:
    if _available(cls) is None:
        pytest.skip(f"{cls}'s extra is not installed")
    value = getattr(_build(tmp_path, cls, **{option: given}), option)
    assert value == expected and type(value) is type(expected)


def test_null_for_an_option_with_a_default_means_the_default(tmp_path: Path) -> None:
    assert _build(tmp_path, "MemoryFile", read_only=None).read_only is False
    assert _build(tmp_path, "LocalFile", mkdir=None).mkdir is True
    if _available("S3File") is not None:
        assert _build(tmp_path, "S3File", prefix=None).prefix == ""


def test_pyobs_class_names_are_coerced_too(tmp_path: Path) -> None:
    vfs = VirtualFileSystem.from_yaml(
        f"vfs:\n  class: pyobs.vfs.VirtualFileSystem\n  roots:\n    d:\n"
        f"      class: pyobs.vfs.LocalFile\n      root: '{tmp_path}'\n      read_only: 'no'\n"
    )
    assert vfs.roots["d"].read_only is False


def test_paths_from_python_are_strings(tmp_path: Path) -> None:
    vfs = VirtualFileSystem({"d": {"class": "LocalFile", "root": tmp_path}}, defaults=False)
    assert vfs.local_path("/d/x") == str(tmp_path / "x")


def test_root_objects_are_not_coerced() -> None:
    root = MemoryFile(read_only=True)
    vfs = VirtualFileSystem({"d": root}, defaults=False)
    assert vfs.roots["d"] is root and root.read_only is True


def test_storage_options_pass_through_unchanged() -> None:
    vfs = VirtualFileSystem.from_yaml(
        "roots: {d: {class: FsspecFile, protocol: memory, storage_options: {x: 'false'}}}"
    )
    assert vfs.roots["d"]._options == {"x": "false"}  # type: ignore[attr-defined]


# -- errors ---------------------------------------------------------------------------------
BAD = [
    # (class, option, YAML value, the value as shown, the expected type as named)
    ("LocalFile", "read_only", "perhaps", "'perhaps'", "must be a boolean (true/false"),
    ("LocalFile", "mkdir", "2", "2", "must be a boolean"),
    ("LocalFile", "mkdir", "[true]", "[True]", "must be a boolean"),
    ("LocalFile", "root", "null", "null", "must be a string,"),
    ("LocalFile", "root", "[a, b]", "['a', 'b']", "must be a string,"),
    ("LocalFile", "writer_root", "5", "5 (quote it in YAML", "must be a string or null"),
    ("LocalFile", "writer_path_semantics", "vms", "'vms'", "must be 'posix' or 'windows'"),
    ("MemoryFile", "share", "{a: 1}", "{'a': 1}", "must be a string or null"),
    ("HttpFile", "timeout", "fast", "'fast'", "must be a number,"),
    ("HttpFile", "timeout", "'0'", "0.0", "must be a number > 0"),
    ("HttpFile", "timeout", "-1", "-1.0", "must be a number > 0"),
    ("HttpFile", "timeout", "'nan'", "'nan'", "must be a number,"),
    ("HttpFile", "retries", "-5", "-5", "must be an integer >= 0"),
    ("HttpFile", "retries", "'2.5'", "'2.5'", "must be an integer,"),
    ("HttpFile", "retries", "true", "true", "must be an integer,"),
    ("HttpFile", "retry_backoff", "-0.5", "-0.5", "must be a number >= 0"),
    ("HttpFile", "block_size", "0", "0", "must be an integer >= 1"),
    ("HttpFile", "cache", "bytes", "'bytes'", "must be 'blocks', 'stream' or 'file'"),
    ("HttpFile", "upload_mode", "post", "'post'", "must be 'put', 'webdav' or 'pyobs'"),
    ("HttpFile", "verify_tls", "3", "3", "must be a boolean (true/false, yes/no, on/off, 1/0)"),
    ("SFTPFile", "port", "abc", "'abc'", "must be an integer,"),
    ("SFTPFile", "port", "0", "0", "must be an integer from 1 to 65535"),
    ("SFTPFile", "port", "'70000'", "70000", "must be an integer from 1 to 65535"),
    ("SFTPFile", "lock_timeout", "-1", "-1.0", "must be a number >= 0"),
    ("SMBFile", "encrypt", "maybe", "'maybe'", "must be a boolean (true/false"),
    ("SMBFile", "lock_timeout", "'-0.5'", "-0.5", "must be a number >= 0"),
    ("S3File", "part_size", "0", "0", "must be an integer >= 1"),
    ("S3File", "client_kwargs", "[verify]", "['verify']", "must be a mapping or null"),
    ("AzureBlobFile", "lease_duration", "5", "5", "must be an integer from 15 to 60"),
    ("AzureBlobFile", "lease_duration", "'61'", "61", "must be an integer from 15 to 60"),
    ("AzureBlobFile", "part_size", "-1", "-1", "must be an integer >= 1"),
    ("RedisFile", "lock_ttl", "0", "0.0", "must be a number > 0"),
    ("RedisFile", "expiry", "0", "0.0", "must be a number > 0"),
    ("RedisFile", "chunk_size", "0", "0", "must be an integer >= 1"),
    ("RedisFile", "db", "-1", "-1", "must be an integer >= 0"),
    ("RedisFile", "max_file_size", "'0'", "0", "must be an integer >= 1"),
    ("ArchiveFile", "compression", "lzma", "'lzma'", "must be 'stored' or 'deflated'"),
]


@pytest.mark.parametrize(("cls", "option", "value", "shown", "expected"), BAD)
def test_bad_values_name_origin_root_option_value_and_type(
    tmp_path: Path, cls: str, option: str, value: str, shown: str, expected: str
) -> None:
    if _available(cls) is None:
        pytest.skip(f"{cls}'s extra is not installed")
    spec = yaml.safe_dump(BASE_SPECS[cls](tmp_path), default_flow_style=True).strip()[1:-1]
    text = f"roots:\n  det:\n    {{class: {cls}, {spec + ', ' if spec else ''}{option}: {value}}}\n"
    config = tmp_path / "beamline.yaml"
    config.write_text(text)
    message = _build_error(str(config))
    assert message.startswith(f"{config}: root 'det' ({cls}): option {option!r} "), message
    assert expected in message, message
    assert message.endswith(f"not {shown}") or f"not {shown}" in message, message


def test_bad_value_in_a_mapping_names_its_origin(tmp_path: Path) -> None:
    message = _build_error({"roots": {"d": {"class": "LocalFile", "root": None}}})
    assert message == "<config>: root 'd' (LocalFile): option 'root' must be a string, not null"


def test_bad_value_from_env_shows_the_substituted_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VFS_TEST_FLAG", "perhaps")
    message = _build_error(
        f"roots: {{d: {{class: LocalFile, root: '{tmp_path}', read_only: '${{VFS_TEST_FLAG}}'}}}}"
    )
    assert message == (
        "<yaml text>: root 'd' (LocalFile): option 'read_only' must be a boolean "
        "(true/false, yes/no, on/off, 1/0), not 'perhaps'"
    )


@pytest.mark.parametrize("value", ["perhaps", "'yes please'", "[1]"])
def test_defaults_must_be_a_bool(value: str) -> None:
    message = _build_error(f"defaults: {value}\nroots: {{}}\n")
    assert message.startswith("<yaml text>: 'defaults:' must be a boolean (true/false"), message


# -- secrets never appear --------------------------------------------------------------------
SECRET = "hunter2-s3cr3t"
SECRET_CASES = [
    ("HttpFile", "password", [SECRET]),
    ("HttpFile", "token", {"t": SECRET}),
    ("SFTPFile", "password", [SECRET]),
    ("SMBFile", "password", [SECRET]),
    ("S3File", "key", [SECRET]),
    ("S3File", "secret", {"s": SECRET}),
    ("AzureBlobFile", "account_key", [SECRET]),
    ("AzureBlobFile", "sas_token", [SECRET]),
    ("AzureBlobFile", "connection_string", [SECRET]),
    ("RedisFile", "password", [SECRET]),
    ("SFTPFile", "insecure_accept_any_host_key", SECRET),
]


@pytest.mark.parametrize(("cls", "option", "value"), SECRET_CASES)
def test_secret_values_never_appear(tmp_path: Path, cls: str, option: str, value: Any) -> None:
    if _available(cls) is None:
        pytest.skip(f"{cls}'s extra is not installed")
    spec = {"class": cls, **BASE_SPECS[cls](tmp_path), option: value}
    message = _build_error({"roots": {"d": spec}})
    assert SECRET not in message
    assert f"root 'd' ({cls}): option {option!r} must be " in message
    assert "value is hidden" in message


def test_secret_number_is_hidden_too(tmp_path: Path) -> None:
    spec = {"class": "RedisFile", "password": 8675309}
    if _available("RedisFile") is None:
        pytest.skip("redis extra not installed")
    message = _build_error({"roots": {"d": spec}})
    assert "8675309" not in message
    assert "option 'password' must be a string or null, not an integer" in message
