"""The MTAT downloader, proven against a misbehaving HTTP mirror served on 127.0.0.1.

The mirror serves small in-memory fake files and can honour or ignore ``Range``, cut the
connection after N bytes, stall, fail with an HTTP status, or serve wrong bytes, and it records
every request so the tests can assert what the client actually sent.
"""

from __future__ import annotations

import gzip
import io
import random
import re
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.constants import ANNOTATIONS_FILE, CLIP_INFO_FILE, MTAT_PARTS
from pipeline.data import download
from pipeline.data.download import (
    MTAT_FILES,
    DownloadError,
    FileSpec,
    concatenate_parts,
    ensure_mtat_audio,
    ensure_mtat_metadata,
    fetch_verified,
    file_digests,
    safe_extract_zip,
    verify_file,
)
from tests.conftest import SHARED_MTAT

FAST = {"retries": 5, "backoff_s": 0.01, "timeout_s": 5, "progress": False, "chunk_size": 4096}
ZIP_TIME = (2009, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------- fake mirror


@dataclass
class Rule:
    """How the mirror misbehaves for one file."""

    honour_range: bool = True
    cut_after: int | None = None  # send only this many body bytes, then close ...
    cut_requests: int = 0  # ... on the first K requests for the file
    stall_after: int | None = None  # send this many bytes, then hang (client must time out) ...
    stall_requests: int = 0  # ... on the first K requests
    fail_status: int | None = None  # answer this HTTP error status ...
    fail_requests: int = 0  # ... on the first K requests
    wrong_bytes: bool = False  # serve corrupted content (right length, wrong checksum)


@dataclass
class Seen:
    """One request the mirror received and what it answered."""

    name: str
    range: str | None
    status: int = 0
    sent: int = 0


@dataclass
class FakeMirror:
    """A threaded ``http.server`` on 127.0.0.1 serving ``files`` under ``/mtat/``."""

    files: dict[str, bytes]
    rules: dict[str, Rule] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    on_request: Callable[[str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/mtat/"

    def seen(self, name: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.name == name]

    def sent(self, name: str) -> int:
        return sum(r.sent for r in self.seen(name))


class _Handler(BaseHTTPRequestHandler):
    """Serves one request per connection (HTTP/1.0), misbehaving as the file's rule says."""

    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        mirror: FakeMirror = self.server.mirror  # type: ignore[attr-defined]
        name = self.path.rsplit("/", 1)[-1]
        seen = Seen(name, self.headers.get("Range"))
        with mirror.lock:
            index = sum(r.name == name for r in mirror.requests)
            mirror.requests.append(seen)
        if mirror.on_request is not None:
            mirror.on_request(name)
        rule = mirror.rules.get(name, Rule())
        data = mirror.files.get(name)
        if data is None or not self.path.startswith("/mtat/"):
            seen.status = 404
            self.send_error(404)
            return
        if rule.fail_status is not None and index < rule.fail_requests:
            seen.status = rule.fail_status
            self.send_error(rule.fail_status)
            return
        if rule.wrong_bytes:
            data = bytes(b ^ 0x5A for b in data)
        start, status = 0, 200
        if seen.range and rule.honour_range:
            match = re.fullmatch(r"bytes=(\d+)-", seen.range.strip())
            assert match, seen.range
            start, status = int(match.group(1)), 206
            if start >= len(data):
                seen.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        seen.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        limit, stall = len(body), False
        if rule.cut_after is not None and index < rule.cut_requests:
            limit = min(limit, rule.cut_after)
        if rule.stall_after is not None and index < rule.stall_requests:
            limit, stall = min(limit, rule.stall_after), True
        try:
            self.wfile.write(body[:limit])
            self.wfile.flush()
            seen.sent = limit
            if stall:
                mirror.release.wait(10)
        except OSError:  # the client gave up first
            pass
        self.close_connection = True


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the downloader's backoff sleeps instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr(download, "_sleep", recorded.append)
    return recorded


def _bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _zip(members: list[tuple[str, bytes]], symlinks: tuple[str, ...] = ()) -> bytes:
    """An in-memory, byte-for-byte deterministic zip of ``members``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            if name in symlinks:
                info.external_attr = 0o120777 << 16
            elif name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
            else:
                info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


FAKE_MEMBERS: list[tuple[str, bytes]] = [
    *((f"{part}/", b"") for part in "01"),  # a few directory entries, as real zips have
    *(
        (f"{part}/artist_{i}-album-{i:02d}-track-0-29.mp3", _bytes(100 + i, 9_000 + 997 * i))
        for i, part in enumerate(MTAT_PARTS)
    ),
    ("f/empty_artist-album-01-silence-30-59.mp3", b""),  # real MTAT has 0-byte mp3s
]
FAKE_FILE_COUNT = sum(not name.endswith("/") for name, _ in FAKE_MEMBERS)


def _fake_files() -> dict[str, bytes]:
    archive = _zip(FAKE_MEMBERS)
    third = len(archive) // 3
    return {
        "mp3.zip.001": archive[:third],
        "mp3.zip.002": archive[third : 2 * third],
        "mp3.zip.003": archive[2 * third :],
        ANNOTATIONS_FILE: _bytes(1, 300_000),
        CLIP_INFO_FILE: _bytes(2, 120_000),
    }


FAKE_FILES = _fake_files()


def spec_of(name: str, data: bytes) -> FileSpec:
    import hashlib

    return FileSpec(name, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())


FAKE_SPECS = {name: spec_of(name, data) for name, data in FAKE_FILES.items()}


@pytest.fixture
def mirror() -> Iterator[FakeMirror]:
    """A fresh fake mirror on 127.0.0.1 (ephemeral port), shut down after the test."""
    fake = FakeMirror(files=dict(FAKE_FILES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.mirror = fake  # type: ignore[attr-defined]
    fake.server = server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def fake_specs(monkeypatch: pytest.MonkeyPatch) -> dict[str, FileSpec]:
    """Point MTAT_FILES at the fakes' checksums for the duration of a test."""
    for name, spec in FAKE_SPECS.items():
        monkeypatch.setitem(MTAT_FILES, name, spec)
    return FAKE_SPECS


def _no_partials(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.partial"))


# --------------------------------------------------------------------------- fetch_verified

NAME = ANNOTATIONS_FILE
DATA = FAKE_FILES[NAME]
SPEC = FAKE_SPECS[NAME]


def test_clean_download_verifies(mirror: FakeMirror, tmp_path: Path, delays: list[float]) -> None:
    dest = tmp_path / "sub" / NAME
    assert fetch_verified(mirror.url + NAME, dest, SPEC, **FAST) == dest
    assert dest.read_bytes() == DATA and verify_file(dest, SPEC)
    assert [(r.range, r.status) for r in mirror.seen(NAME)] == [(None, 200)]
    assert _no_partials(tmp_path) == [] and delays == []


def test_resume_after_cut_sends_range(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    cut = 100_000
    mirror.rules[NAME] = Rule(cut_after=cut, cut_requests=1)
    dest = fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **FAST)
    assert verify_file(dest, SPEC)
    seen = mirror.seen(NAME)
    assert [(r.range, r.status) for r in seen] == [(None, 200), (f"bytes={cut}-", 206)]
    assert mirror.sent(NAME) == len(DATA) < 2 * len(DATA)
    assert delays == [FAST["backoff_s"]]
    assert _no_partials(tmp_path) == []


def test_repeated_cuts_back_off_exponentially(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    mirror.rules[NAME] = Rule(cut_after=40_000, cut_requests=3)
    dest = fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **{**FAST, "backoff_s": 0.5})
    assert verify_file(dest, SPEC)
    assert [r.range for r in mirror.seen(NAME)] == [
        None,
        "bytes=40000-",
        "bytes=80000-",
        "bytes=120000-",
    ]
    assert delays == [0.5, 1.0, 2.0]
    assert mirror.sent(NAME) == len(DATA)


def test_ignored_range_restarts_from_zero(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    mirror.rules[NAME] = Rule(honour_range=False, cut_after=100_000, cut_requests=1)
    dest = fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **FAST)
    assert dest.read_bytes() == DATA and verify_file(dest, SPEC)
    assert [(r.range, r.status) for r in mirror.seen(NAME)] == [
        (None, 200),
        ("bytes=100000-", 200),  # asked to resume, got the whole file: must not append it
    ]
    assert _no_partials(tmp_path) == []


def test_stall_times_out_and_resumes(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    mirror.rules[NAME] = Rule(stall_after=50_000, stall_requests=1)
    dest = fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **{**FAST, "timeout_s": 0.3})
    assert verify_file(dest, SPEC)
    assert [r.range for r in mirror.seen(NAME)] == [None, "bytes=50000-"]


def test_server_errors_are_retried(mirror: FakeMirror, tmp_path: Path, delays: list[float]) -> None:
    mirror.rules[NAME] = Rule(fail_status=503, fail_requests=2)
    assert verify_file(fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **FAST), SPEC)
    assert [r.status for r in mirror.seen(NAME)] == [503, 503, 200]


def test_not_found_fails_at_once_naming_the_url(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    url = mirror.url + "no-such-file.csv"
    with pytest.raises(DownloadError, match=re.escape(url)) as caught:
        fetch_verified(url, tmp_path / "x.csv", None, **FAST)
    assert "404" in str(caught.value) and "base_url" in str(caught.value)
    assert len(mirror.seen("no-such-file.csv")) == 1
    assert list(tmp_path.iterdir()) == []


def test_wrong_bytes_raise_and_leave_nothing(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    mirror.rules[NAME] = Rule(wrong_bytes=True)
    dest = tmp_path / NAME
    with pytest.raises(DownloadError, match="checksum mismatch") as caught:
        fetch_verified(mirror.url + NAME, dest, SPEC, **FAST)
    assert NAME in str(caught.value) and mirror.url in str(caught.value)
    assert not dest.exists() and _no_partials(tmp_path) == []
    # one retry from scratch (no Range), then it gives up rather than re-downloading forever
    assert [r.range for r in mirror.seen(NAME)] == [None, None]


def test_stale_partial_that_fails_verification_is_redone_from_scratch(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    dest = tmp_path / NAME
    (tmp_path / (NAME + ".partial")).write_bytes(b"x" * 1000)  # left by some other download
    assert verify_file(fetch_verified(mirror.url + NAME, dest, SPEC, **FAST), SPEC)
    assert [r.range for r in mirror.seen(NAME)] == ["bytes=1000-", None]
    assert _no_partials(tmp_path) == []


def test_partial_longer_than_file_is_discarded(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    (tmp_path / (NAME + ".partial")).write_bytes(b"y" * (len(DATA) + 10))
    assert verify_file(fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **FAST), SPEC)
    assert [r.status for r in mirror.seen(NAME)] == [416, 200]


def test_complete_partial_is_verified_without_a_body(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    (tmp_path / (NAME + ".partial")).write_bytes(DATA)  # crashed between transfer and rename
    assert verify_file(fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **FAST), SPEC)
    assert [(r.status, r.sent) for r in mirror.seen(NAME)] == [(416, 0)]


def test_exhausted_retries_keep_the_partial_for_the_next_run(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    mirror.rules[NAME] = Rule(cut_after=30_000, cut_requests=3)
    dest = tmp_path / NAME
    with pytest.raises(DownloadError, match="resumes"):
        fetch_verified(mirror.url + NAME, dest, SPEC, **{**FAST, "retries": 1})
    partial = tmp_path / (NAME + ".partial")
    assert not dest.exists() and partial.stat().st_size == 60_000
    assert verify_file(fetch_verified(mirror.url + NAME, dest, SPEC, **FAST), SPEC)
    assert [r.range for r in mirror.seen(NAME)][2:] == ["bytes=60000-", "bytes=90000-"]
    assert mirror.sent(NAME) == len(DATA)


def test_second_call_makes_no_request(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    dest = tmp_path / NAME
    fetch_verified(mirror.url + NAME, dest, SPEC, **FAST)
    before = len(mirror.requests)
    assert fetch_verified(mirror.url + NAME, dest, SPEC, **FAST) == dest
    assert len(mirror.requests) == before == 1


def test_no_spec_downloads_without_checksum(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    dest = tmp_path / "plain.bin"
    mirror.files["plain.bin"] = b"anything at all"
    assert fetch_verified(mirror.url + "plain.bin", dest, None, **FAST).read_bytes() == (
        b"anything at all"
    )
    fetch_verified(mirror.url + "plain.bin", dest, None, **FAST)
    assert len(mirror.requests) == 1


def test_existing_unverified_file_is_replaced_only_after_verification(
    mirror: FakeMirror, tmp_path: Path, delays: list[float]
) -> None:
    dest = tmp_path / NAME
    old = b"a user's stale or truncated copy"
    dest.write_bytes(old)
    during: list[bytes] = []
    mirror.on_request = lambda name: during.append(dest.read_bytes())

    mirror.rules[NAME] = Rule(wrong_bytes=True)
    with pytest.raises(DownloadError, match="left untouched"):
        fetch_verified(mirror.url + NAME, dest, SPEC, **FAST)
    assert dest.read_bytes() == old and _no_partials(tmp_path) == []

    mirror.requests.clear()
    mirror.rules[NAME] = Rule(cut_after=70_000, cut_requests=1)
    fetch_verified(mirror.url + NAME, dest, SPEC, **FAST)
    assert dest.read_bytes() == DATA
    assert [r.range for r in mirror.requests] == [None, "bytes=70000-"]
    assert len(during) == 4 and all(seen == old for seen in during)
    assert _no_partials(tmp_path) == []


def test_progress_bar_goes_to_stderr(
    mirror: FakeMirror, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch_verified(mirror.url + NAME, tmp_path / NAME, SPEC, **{**FAST, "progress": True})
    out, err = capsys.readouterr()
    assert out == "" and NAME in err


def test_verify_file_and_sha256_of(tmp_path: Path) -> None:
    path = tmp_path / NAME
    assert not verify_file(path, SPEC)
    path.write_bytes(DATA)
    assert file_digests(path)[1] == SPEC.sha256 and verify_file(path, SPEC)
    assert not verify_file(path, FileSpec(NAME, "0" * 32, SPEC.sha256))  # md5 is checked too
    path.write_bytes(DATA[:-1] + b"\0")
    assert not verify_file(path, SPEC)


# --------------------------------------------------------------------------- metadata


def test_verified_metadata_folder_makes_no_request(
    mirror: FakeMirror, tmp_path: Path, fake_specs: dict[str, FileSpec]
) -> None:
    for name in (ANNOTATIONS_FILE, CLIP_INFO_FILE):
        (tmp_path / name).write_bytes(FAKE_FILES[name])
    paths = ensure_mtat_metadata(tmp_path, mirror.url, **FAST)
    assert paths == [tmp_path / ANNOTATIONS_FILE, tmp_path / CLIP_INFO_FILE]
    assert mirror.requests == []


def test_metadata_fetches_only_what_is_missing(
    mirror: FakeMirror, tmp_path: Path, fake_specs: dict[str, FileSpec], delays: list[float]
) -> None:
    (tmp_path / ANNOTATIONS_FILE).write_bytes(FAKE_FILES[ANNOTATIONS_FILE])
    ensure_mtat_metadata(tmp_path, mirror.url.rstrip("/"), **FAST)  # base without slash works
    assert [r.name for r in mirror.requests] == [CLIP_INFO_FILE]
    assert verify_file(tmp_path / CLIP_INFO_FILE, fake_specs[CLIP_INFO_FILE])


def test_real_metadata_verifies_against_published_checksums(
    mirror: FakeMirror, tmp_path: Path
) -> None:
    if not SHARED_MTAT.is_dir():
        pytest.skip(f"{SHARED_MTAT} absent: the real MTAT fixtures live beside the checkout")
    for name in (ANNOTATIONS_FILE, CLIP_INFO_FILE):
        with gzip.open(SHARED_MTAT / f"{name}.gz", "rb") as source:
            with open(tmp_path / name, "wb") as sink:
                shutil.copyfileobj(source, sink)
    path = tmp_path / ANNOTATIONS_FILE
    assert file_digests(path)[1] == MTAT_FILES[ANNOTATIONS_FILE].sha256
    assert verify_file(path, MTAT_FILES[ANNOTATIONS_FILE])
    # the real MTAT_FILES, untouched: the real files count as present, no request is made
    ensure_mtat_metadata(tmp_path, mirror.url, **FAST)
    assert mirror.requests == []


# --------------------------------------------------------------------------- audio


def test_ensure_mtat_audio_round_trip(
    mirror: FakeMirror, tmp_path: Path, fake_specs: dict[str, FileSpec], delays: list[float]
) -> None:
    mirror.rules["mp3.zip.002"] = Rule(cut_after=20_000, cut_requests=1)
    mtat = tmp_path / "mtat"
    assert ensure_mtat_audio(mtat, mirror.url, **FAST) == mtat
    for name, data in FAKE_MEMBERS:
        if not name.endswith("/"):
            assert (mtat / name).read_bytes() == data, name
    assert all((mtat / part).is_dir() for part in MTAT_PARTS)
    assert (mtat / "f/empty_artist-album-01-silence-30-59.mp3").stat().st_size == 0
    assert (mtat / ".mp3_extracted").is_file() and not (mtat / ".mp3_extracting").exists()
    assert not (mtat / "mp3.zip").exists()
    assert all(verify_file(mtat / n, fake_specs[n]) for n in download.MTAT_ZIP_PARTS)
    assert [r.name for r in mirror.requests] == [
        "mp3.zip.001",
        "mp3.zip.002",
        "mp3.zip.002",
        "mp3.zip.003",
    ]
    assert _no_partials(mtat) == []
    assert sorted(p.name for p in mtat.rglob(".*") if p.is_file()) == [".mp3_extracted"]

    before = len(mirror.requests)
    ensure_mtat_audio(mtat, mirror.url, **FAST)  # marker present: nothing to do
    (mtat / ".mp3_extracted").unlink()
    ensure_mtat_audio(mtat, mirror.url, **FAST)  # folders present: used as is
    assert len(mirror.requests) == before


def test_existing_extracted_copy_is_used_as_is(
    mirror: FakeMirror, tmp_path: Path, fake_specs: dict[str, FileSpec]
) -> None:
    for part in MTAT_PARTS:
        (tmp_path / part).mkdir()
        (tmp_path / part / f"user-clip-{part}.mp3").write_bytes(b"")
    ensure_mtat_audio(tmp_path, mirror.url, **FAST)
    assert mirror.requests == []
    assert not (tmp_path / ".mp3_extracted").exists()


def test_partial_copy_is_used_as_is_and_said_so(
    mirror: FakeMirror,
    tmp_path: Path,
    fake_specs: dict[str, FileSpec],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without our marker, a copy missing whole part folders is neither completed nor touched."""
    for part in "0c":
        (tmp_path / part).mkdir()
        (tmp_path / part / "x.mp3").write_bytes(b"")
    (tmp_path / "f").mkdir()  # an empty part folder
    with caplog.at_level("WARNING", logger=download.__name__):
        ensure_mtat_audio(tmp_path, mirror.url, **FAST)
    assert mirror.requests == [] and not (tmp_path / ".mp3_extracted").exists()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "0",
        "0/x.mp3",
        "c",
        "c/x.mp3",
        "f",
    ]
    [record] = caplog.records
    assert "using the existing audio as is" in record.getMessage()
    assert "part folder(s) 1, 2, 3, 4, 5, 6, 7, 8, 9, a, b, d, e, f hold no mp3" in (
        record.getMessage()
    )
    assert "skipped.csv" in record.getMessage()


def test_interrupted_extraction_is_redone_over_the_half_written_folders(
    mirror: FakeMirror, tmp_path: Path, fake_specs: dict[str, FileSpec], delays: list[float]
) -> None:
    for part in MTAT_PARTS:
        (tmp_path / part).mkdir()
        (tmp_path / part / "x.mp3").write_bytes(b"")
    (tmp_path / ".mp3_extracting").touch()
    ensure_mtat_audio(tmp_path, mirror.url, **FAST)
    assert len(mirror.requests) == 3 and (tmp_path / ".mp3_extracted").is_file()
    assert not (tmp_path / ".mp3_extracting").exists()
    for name, data in FAKE_MEMBERS:
        if not name.endswith("/"):
            assert (tmp_path / name).read_bytes() == data, name


def test_audio_part_with_wrong_bytes_extracts_nothing(
    mirror: FakeMirror, tmp_path: Path, fake_specs: dict[str, FileSpec], delays: list[float]
) -> None:
    mirror.rules["mp3.zip.003"] = Rule(wrong_bytes=True)
    with pytest.raises(DownloadError, match=r"mp3\.zip\.003"):
        ensure_mtat_audio(tmp_path, mirror.url, **FAST)
    assert not any((tmp_path / part).exists() for part in MTAT_PARTS)
    assert not (tmp_path / "mp3.zip.003").exists() and _no_partials(tmp_path) == []
    assert not (tmp_path / ".mp3_extracted").exists()


# --------------------------------------------------------------------------- zip handling


@pytest.mark.parametrize(
    "evil",
    ["../evil.mp3", "0/../../evil.mp3", "/tmp/evil.mp3", "..\\evil.mp3", "C:/evil.mp3", "0/link"],
)
def test_zip_slip_is_refused_before_anything_is_extracted(tmp_path: Path, evil: str) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(
        _zip(
            [("0/good.mp3", b"good"), (evil, b"../../outside"), ("1/late.mp3", b"late")],
            symlinks=("0/link",),
        )
    )
    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match=re.escape(repr(evil))):
        safe_extract_zip(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "evil.mp3").exists()


def test_safe_extract_counts_files_and_leaves_no_temporaries(tmp_path: Path) -> None:
    archive = tmp_path / "mp3.zip"
    archive.write_bytes(_zip(FAKE_MEMBERS))
    assert safe_extract_zip(archive, tmp_path / "out") == FAKE_FILE_COUNT
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(files) == FAKE_FILE_COUNT and not any(p.name.startswith(".") for p in files)


def test_corrupt_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "mp3.zip"
    archive.write_bytes(FAKE_FILES["mp3.zip.001"])  # only the first third
    with pytest.raises(DownloadError, match="download again"):
        safe_extract_zip(archive, tmp_path / "out")
    data = bytearray(_zip([("0/a.mp3", b"A" * 5000)]))
    data[100] ^= 0xFF  # flip a byte of the member: CRC check must fail
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="0/a.mp3"):
        safe_extract_zip(archive, tmp_path / "out2")
    assert [p for p in (tmp_path / "out2").rglob("*") if p.is_file()] == []


def test_concatenate_parts(tmp_path: Path) -> None:
    parts = []
    for name in download.MTAT_ZIP_PARTS:
        (tmp_path / name).write_bytes(FAKE_FILES[name])
        parts.append(tmp_path / name)
    out = concatenate_parts(parts, tmp_path / "mp3.zip")
    assert out.read_bytes() == _zip(FAKE_MEMBERS) and _no_partials(tmp_path) == []
    with pytest.raises(DownloadError, match="missing"):
        concatenate_parts([*parts, tmp_path / "mp3.zip.004"], tmp_path / "other.zip")
    assert not (tmp_path / "other.zip").exists()
