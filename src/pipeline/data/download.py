"""Download, verify and unpack the real MagnaTagATune (MTAT) dataset.

Everything goes through one rule so that a crash, a dropped connection or a bad mirror can never
leave a truncated or unverified file under its final name: bytes are streamed to
``<name>.partial``, resumed with an HTTP ``Range`` request after a drop, verified against the
published MD5 and SHA-256, and only then renamed (``os.replace``, atomic) to the final name.
A file already present and verified is used as is, without any network request, so the
functions are idempotent and cheap to call from every workflow run.

Only the standard library speaks HTTP (``urllib.request``); ``tqdm`` draws progress bars on stderr.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from pipeline import atomic
from pipeline.atomic import PARTIAL_SUFFIX, partial_path
from pipeline.constants import ANNOTATIONS_FILE, CLIP_INFO_FILE, MTAT_PARTS

log = logging.getLogger(__name__)

MTAT_BASE_URL: str = "https://mirg.city.ac.uk/datasets/magnatagatune/"
"""The official MTAT download folder (older mirror: ``http://mi.soi.city.ac.uk/datasets/magnatagatune/``)."""


@dataclass(frozen=True)
class FileSpec:
    """A file's name and published checksums, so a download can be proven to be the real file."""

    name: str
    md5: str
    sha256: str


MTAT_FILES: dict[str, FileSpec] = {
    spec.name: spec
    for spec in (
        FileSpec(
            "mp3.zip.001",
            "179c91c8c2a6e9b3da3d4e69d306fd3b",
            "f857fe185968773058cc71662c2ef5d8f2d4b7338e3c122cfd52f82dcb9760b9",
        ),
        FileSpec(
            "mp3.zip.002",
            "acf8265ff2e35c6ff22210e46457a824",
            "fc2e1ec441755556ed1398b1808f1b08b6034372f8bc27394510c0c58cdb52ce",
        ),
        FileSpec(
            "mp3.zip.003",
            "582dc649cabb8cd991f09e14b99349a5",
            "83a689824c17e82f6eb81cdbc4e4ca239a4cfc1fb41f1a5c80b861caec90450f",
        ),
        FileSpec(
            ANNOTATIONS_FILE,
            "f04fa01752a8cc64f6e1ca142a0fef1d",
            "99b94e95825d4fa576386a5367b9c96e0ec636e9f9c240aceb492f4728f68c3c",
        ),
        FileSpec(
            CLIP_INFO_FILE,
            "03ef3cb8ddcfe53fdcdb8e0cda005be2",
            "cb6108a10d3a91f0bfd7d2fbec2382559d15f20c8d28093f14e12162a47a3e78",
        ),
    )
}
"""The five official MTAT files with their published MD5 and SHA-256 (see shared/mtat/README.md)."""

MTAT_METADATA_FILES: tuple[str, ...] = (ANNOTATIONS_FILE, CLIP_INFO_FILE)
"""The metadata files ``ensure_mtat_metadata`` provides, in this order."""

MTAT_ZIP_PARTS: tuple[str, ...] = ("mp3.zip.001", "mp3.zip.002", "mp3.zip.003")
"""The pieces of the audio zip, in the order they are concatenated."""

MTAT_ZIP_NAME = "mp3.zip"
"""The concatenated archive; deleted after a successful extraction (the parts are kept)."""

AUDIO_MARKER = ".mp3_extracted"
"""Written into ``mtat_dir`` once our own unpacking has extracted every member of the zip."""

AUDIO_IN_PROGRESS = ".mp3_extracting"
"""Present while extracting, so a half-extracted folder is never mistaken for a user's copy."""


_HASH_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)
_TRANSIENT_HTTP = {408, 425, 429}
_MAX_MISMATCHES = 2  # a resumed or stale partial gets one clean retry; then the mirror is wrong
_sleep = time.sleep  # tests may replace this to avoid real waits


class DownloadError(RuntimeError):
    """A download, checksum or extraction failed; the message names the file or URL and the fix."""


class _Transient(Exception):
    """A failure worth retrying (drop, timeout, short read, 5xx); the partial bytes are kept."""


def file_digests(path: str | Path) -> tuple[str, str]:
    """MD5 and SHA-256 of a file in a single pass (the files are gigabytes)."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def verify_file(path: str | Path, spec: FileSpec | None) -> bool:
    """True when ``path`` is a file matching both published checksums of ``spec``.

    With ``spec=None`` (no published checksum) a file's mere presence counts: this module only
    ever puts complete transfers under a final name, so presence is all that can be checked.
    """
    path = Path(path)
    if not path.is_file():
        return False
    if spec is None:
        return True
    md5, sha = file_digests(path)
    return sha == spec.sha256.lower() and md5 == spec.md5.lower()


def _join_url(base_url: str, name: str) -> str:
    """``base_url`` + ``name`` whether or not the base ends in a slash."""
    return base_url.rstrip("/") + "/" + name


def _fsync(handle) -> None:
    """Flush a file to disk before it is renamed, so a crash cannot leave a hollow final file."""
    handle.flush()
    os.fsync(handle.fileno())


def _expected_total(response, offset: int) -> int | None:
    """The full file size the response promises, or None when the server does not say."""
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "") or "")
        if match and match.group(3) != "*":
            return int(match.group(3))
    length = response.headers.get("Content-Length")
    if length is None or not length.strip().isdigit():
        return None
    return offset + int(length)


def _download_once(
    url: str, partial: Path, *, timeout_s: float, progress: bool, chunk_size: int
) -> None:
    """One HTTP request appending to (or restarting) ``partial``; returns once it is complete.

    Raises :class:`_Transient` for anything worth retrying, :class:`DownloadError` otherwise.
    """
    offset = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "e2e-tagging-downloader/1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            # The partial is at least as long as the file: complete already, or stale and too long.
            match = _UNSATISFIED_RANGE.match(error.headers.get("Content-Range", "") or "")
            if match and int(match.group(1)) == offset:
                return
            partial.unlink(missing_ok=True)
            raise _Transient(f"HTTP 416 for a stale partial of {offset} bytes") from error
        if error.code >= 500 or error.code in _TRANSIENT_HTTP:
            raise _Transient(f"HTTP {error.code} {error.reason}") from error
        raise DownloadError(
            f"{url}: HTTP {error.code} {error.reason}; check the URL (base_url) or point it at "
            "a working mirror, e.g. http://mi.soi.city.ac.uk/datasets/magnatagatune/"
        ) from error
    except (OSError, HTTPException) as error:  # URLError, refused, reset, timeout, bad status
        raise _Transient(f"{type(error).__name__}: {error}") from error

    with response:
        mode = "ab"
        if offset and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "") or "")
            if match is None or int(match.group(1)) != offset:
                partial.unlink(missing_ok=True)
                raise _Transient(
                    f"unusable Content-Range {response.headers.get('Content-Range')!r}"
                )
        elif response.status in (200, 206):
            if offset:
                log.info("%s ignored the Range request; restarting from byte 0", url)
            offset, mode = 0, "wb"
        else:
            raise _Transient(f"unexpected HTTP status {response.status}")
        total = _expected_total(response, offset)
        written = offset
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=partial.name.removesuffix(PARTIAL_SUFFIX),
            file=sys.stderr,
            disable=not progress,
            leave=False,
        )
        try:
            with open(partial, mode) as handle:
                # read1 returns what has arrived, so a timeout loses no received bytes
                read = getattr(response, "read1", response.read)
                try:
                    while chunk := read(chunk_size):
                        handle.write(chunk)
                        written += len(chunk)
                        bar.update(len(chunk))
                finally:
                    _fsync(handle)  # keep every byte received, for the next resume
        except (OSError, HTTPException) as error:  # reset, timeout, IncompleteRead mid-body
            raise _Transient(f"{type(error).__name__} after {written} bytes: {error}") from error
        finally:
            bar.close()
    if total is not None and written < total:
        raise _Transient(f"connection closed after {written} of {total} bytes")


def fetch_verified(
    url: str,
    dest: Path,
    spec: FileSpec | None,
    *,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60,
    progress: bool = True,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest`` so that ``dest`` only ever holds the verified file.

    Returns at once, with no request, when ``dest`` already verifies. Otherwise streams to
    ``dest.partial``, resumes it with ``Range`` after a drop, timeout or short read (keeping the
    bytes, waiting ``backoff_s * 2**attempt``), restarts from zero if the server ignores
    ``Range``, verifies, and only then replaces ``dest``, so a user's unverified file is kept
    until its replacement is proven. A checksum mismatch deletes the partial and retries once
    from scratch; a second mismatch raises :class:`DownloadError` leaving neither file behind.
    ``spec=None`` skips the checksum (generic mirrors, tests).
    """
    dest = Path(dest)
    if verify_file(dest, spec):
        log.debug("%s already present and verified", dest)
        return dest
    if dest.exists():
        log.warning("%s exists but does not verify; downloading a replacement", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(dest)
    attempt = 0
    mismatches = 0
    while True:
        try:
            _download_once(
                url, partial, timeout_s=timeout_s, progress=progress, chunk_size=chunk_size
            )
        except _Transient as error:
            if attempt >= retries:
                raise DownloadError(
                    f"{url}: download of {dest.name} failed after {attempt + 1} attempts "
                    f"({error}); the {partial.stat().st_size if partial.is_file() else 0} bytes "
                    f"received are kept in {partial} and the next run resumes from there; "
                    "check the network or use another mirror (base_url)"
                ) from error
            delay = backoff_s * 2**attempt
            log.warning("%s: %s; retrying in %.3g s", url, error, delay)
            _sleep(delay)
            attempt += 1
            continue
        if spec is None:
            os.replace(partial, dest)
            return dest
        md5, sha = file_digests(partial)
        if sha == spec.sha256.lower() and md5 == spec.md5.lower():
            os.replace(partial, dest)
            log.info("%s downloaded and verified", dest)
            return dest
        partial.unlink(missing_ok=True)
        mismatches += 1
        message = (
            f"{url}: checksum mismatch for {spec.name} (got sha256 {sha}, md5 {md5}; expected "
            f"sha256 {spec.sha256}, md5 {spec.md5})"
        )
        if mismatches >= _MAX_MISMATCHES or attempt >= retries:
            kept = f"; {dest} was left untouched" if dest.exists() else ""
            raise DownloadError(
                f"{message}{kept}; the mirror serves a different file: try another mirror "
                "(base_url) or place a verified copy at that path by hand"
            )
        log.warning("%s; deleting the partial and retrying from scratch", message)
        _sleep(backoff_s * 2**attempt)
        attempt += 1


def ensure_mtat_metadata(mtat_dir: Path, base_url: str = MTAT_BASE_URL, **kw) -> list[Path]:
    """Make ``annotations_final.csv`` and ``clip_info_final.csv`` present and verified.

    A file already there and verified is used without any request; ``kw`` goes to
    :func:`fetch_verified` (retries, timeouts, progress).
    """
    mtat_dir = Path(mtat_dir)
    return [
        fetch_verified(_join_url(base_url, name), mtat_dir / name, MTAT_FILES[name], **kw)
        for name in MTAT_METADATA_FILES
    ]


def concatenate_parts(parts: list[Path], out: Path) -> Path:
    """Join split archive pieces into ``out`` (written as a partial first, then renamed)."""
    out = Path(out)
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise DownloadError(
            f"cannot build {out}: missing part(s) {', '.join(missing)}; download them first "
            "(ensure_mtat_audio does)"
        )
    partial = partial_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(partial, "wb") as sink:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, sink, _HASH_CHUNK)
            _fsync(sink)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def _unsafe_reason(info: zipfile.ZipInfo, root: Path) -> str | None:
    """Why extracting ``info`` under ``root`` would be unsafe, or None when it is safe."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or PureWindowsPath(name).drive or PureWindowsPath(name).root:
        return "has an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "contains '..'"
    target = Path(os.path.normpath(root / posix))
    if target == root:
        return "has an empty name"
    if not target.is_relative_to(root):
        return "would land outside the destination"
    return None


def safe_extract_zip(zip_path: Path, dest_dir: Path) -> int:
    """Extract ``zip_path`` into ``dest_dir`` refusing zip-slip; returns the files extracted.

    Every member is checked before any is extracted: absolute paths, ``..`` components and
    symbolic links raise :class:`DownloadError` naming the member. Each file is written to a
    hidden temporary name beside its target and renamed once complete (CRC checked), so a crash
    never leaves a half-written file under a final name. Directory entries are not counted.
    """
    zip_path, dest_dir = Path(zip_path), Path(dest_dir)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DownloadError(
            f"{zip_path}: not a readable zip archive ({error}); delete it and its parts and "
            "download again"
        ) from error
    with archive:
        root = dest_dir.resolve()
        members = archive.infolist()
        for info in members:
            reason = _unsafe_reason(info, root)
            if reason:
                raise DownloadError(
                    f"{zip_path}: refusing to extract member {info.filename!r}, which {reason}; "
                    "nothing was extracted; the archive is not the official MTAT one, "
                    "download it again from a trusted mirror"
                )
        root.mkdir(parents=True, exist_ok=True)
        count = 0
        for info in members:
            target = root / info.filename.replace("\\", "/")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile(
                dir=target.parent, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, delete=False
            )
            tmp = Path(handle.name)
            try:
                with handle, archive.open(info) as source:
                    shutil.copyfileobj(source, handle, _HASH_CHUNK)
                os.replace(tmp, target)
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                tmp.unlink(missing_ok=True)
                raise DownloadError(
                    f"{zip_path}: member {info.filename!r} could not be extracted ({error}); "
                    "delete the archive and its parts and download again"
                ) from error
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            count += 1
    return count


def _parts_with_audio(mtat_dir: Path) -> list[str]:
    """The part folders of ``mtat_dir`` that hold at least one mp3 file."""
    return [
        part
        for part in MTAT_PARTS
        if (mtat_dir / part).is_dir() and next((mtat_dir / part).glob("*.mp3"), None) is not None
    ]


def _use_existing_copy(mtat_dir: Path) -> bool:
    """True (and say so) when part folders hold mp3s that our own unpacking did not write.

    Such a copy (the user's) is used as is, however partial, and never written to: completing
    it would take the 3 GB of zips. Its missing clips end up in skipped.csv (reason
    ``missing``) when the audio is cached.
    """
    if (mtat_dir / AUDIO_IN_PROGRESS).exists():
        return False  # our own extraction, interrupted: redo it
    present = _parts_with_audio(mtat_dir)
    if not present:
        return False
    empty = [part for part in MTAT_PARTS if part not in present]
    log.warning(
        "%s: using the existing audio as is (no %s from our own unpacking)%s; clips missing "
        "from it will be listed in skipped.csv. To download and unpack the official audio "
        "instead, move the part folders 0-f out of %s",
        mtat_dir,
        AUDIO_MARKER,
        f"; part folder(s) {', '.join(empty)} hold no mp3" if empty else "",
        mtat_dir,
    )
    return True


def ensure_mtat_audio(mtat_dir: Path, base_url: str = MTAT_BASE_URL, **kw) -> Path:
    """Make MTAT's 16 audio part folders exist in ``mtat_dir``; returns ``mtat_dir``.

    Does nothing when the marker of our own unpacking is present, or when any part folder
    already holds mp3 files (a copy of the user's: used as is, however partial; every clip
    missing from it is listed in skipped.csv when the audio is cached). Otherwise fetches the
    three verified zip parts into ``mtat_dir``, concatenates them into ``mp3.zip``, safely
    extracts it, writes the marker and deletes ``mp3.zip`` (the verified parts stay, so a
    rerun needs no network).
    ``kw`` goes to :func:`fetch_verified`.
    """
    mtat_dir = Path(mtat_dir)
    marker = mtat_dir / AUDIO_MARKER
    if marker.is_file():
        log.debug("%s: audio already extracted (marker %s)", mtat_dir, marker.name)
        return mtat_dir
    if _use_existing_copy(mtat_dir):
        return mtat_dir
    mtat_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        fetch_verified(_join_url(base_url, name), mtat_dir / name, MTAT_FILES[name], **kw)
        for name in MTAT_ZIP_PARTS
    ]
    zip_path = concatenate_parts(parts, mtat_dir / MTAT_ZIP_NAME)
    in_progress = mtat_dir / AUDIO_IN_PROGRESS
    in_progress.touch()
    count = safe_extract_zip(zip_path, mtat_dir)
    absent = [p for p in MTAT_PARTS if not (mtat_dir / p).is_dir()]
    if absent:
        log.warning("%s: the archive had no part folder(s) %s", zip_path, ", ".join(absent))
    atomic.write_text(marker, f"{count} files extracted from {MTAT_ZIP_NAME}\n")
    in_progress.unlink(missing_ok=True)
    zip_path.unlink(missing_ok=True)
    log.info("%s: extracted %d audio files", mtat_dir, count)
    return mtat_dir


__all__ = [
    "MTAT_BASE_URL",
    "MTAT_FILES",
    "FileSpec",
    "DownloadError",
    "file_digests",
    "verify_file",
    "fetch_verified",
    "ensure_mtat_metadata",
    "ensure_mtat_audio",
    "safe_extract_zip",
    "concatenate_parts",
]
