"""An LMDB of encoded images (the layout of LSUN and many GAN codebases), read in place.

Layout: every key is one image whose value is its encoded bytes (PNG, JPEG, WebP, ... anything
Pillow reads), in key order, except the key `dataset.json`, which when present holds labels as
in a stylegan2-ada zip: `{"labels": [["<key>", class], ...], "class_names": [...]}` (keys as
UTF-8 text; `class_names` optional). Give the environment's folder (holding data.mdb) or, for
an environment made with subdir=False, its file (*.mdb / *.lmdb). Needs `ganforge[lmdb]`.
"""
from __future__ import annotations

import json
from pathlib import Path

from ganforge.data.encoded import EncodedImages, PackedNames
from ganforge.data.extras import import_extra
from ganforge.data.messages import one_line
from ganforge.data.zip_archive import labels_from_json
from ganforge.errors import DataError

LABELS_KEY = b"dataset.json"
_FILE_SUFFIXES = (".mdb", ".lmdb")


def is_lmdb(path: Path) -> bool:
    if path.is_dir():
        return (path / "data.mdb").is_file()
    return path.suffix.lower() in _FILE_SUFFIXES


class LmdbImages(EncodedImages):
    kind = "lmdb"

    def __init__(self, path: Path):
        self.path = path
        lmdb = import_extra("lmdb", "lmdb", f"an LMDB ({path})")
        try:
            env = self._open()
            try:
                _check_complete(env, path)
                with env.begin(buffers=False) as txn:
                    keys = [bytes(key) for key in txn.cursor().iternext(keys=True, values=False)
                            if key != LABELS_KEY]
                    meta = txn.get(LABELS_KEY)
            finally:
                env.close()
        except lmdb.Error as error:
            raise DataError(f"{path}: not a readable LMDB ({one_line(error)})") from error
        names = [key.decode("utf-8", "surrogateescape") for key in keys]
        labels, class_names = None, None
        if meta is not None:
            where = f"{path}:{LABELS_KEY.decode()}"
            try:
                parsed = json.loads(meta)
            except Exception as error:
                raise DataError(f"{where}: not readable JSON ({one_line(error)})") from error
            labels, class_names = labels_from_json(parsed, names, where)
        super().__init__(str(path), PackedNames(names), labels, class_names)

    def _open(self):
        import lmdb
        # lock=False: read-only use needs no lock file (and works on read-only media);
        # readahead=False: items are read in random order, so OS readahead only wastes memory.
        return lmdb.open(str(self.path), subdir=self.path.is_dir(), readonly=True, lock=False,
                         readahead=False, meminit=False, max_readers=1)

    def _read(self, env, index: int) -> bytes:
        key = self.names[index].encode("utf-8", "surrogateescape")
        with env.begin(buffers=False) as txn:
            value = txn.get(key)
        if value is None:
            raise DataError(f"{self.item_name(index)}: key vanished from the LMDB")
        return value


def _check_complete(env, path: Path) -> None:
    """LMDB memory-maps its file and trusts it: a page past the end of a truncated file is a
    SIGBUS that kills the process. The meta page says how many pages there are; check first."""
    data_file = path / "data.mdb" if path.is_dir() else path
    pages = env.info()["last_pgno"] + 1
    page_size = env.stat()["psize"]
    if data_file.stat().st_size < pages * page_size:
        raise DataError(f"{path}: truncated LMDB ({data_file.stat().st_size} bytes, its header says "
                        f"{pages} pages of {page_size})")
