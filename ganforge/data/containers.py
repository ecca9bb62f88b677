"""Which container format a path is, if any: the formats read in place as encoded images."""
from __future__ import annotations

from pathlib import Path

from ganforge.data.encoded import EncodedImages
from ganforge.data.hf_disk import HuggingFaceImages, is_hf_dataset
from ganforge.data.images import is_image_file
from ganforge.data.lmdb_store import LmdbImages, is_lmdb
from ganforge.data.tar_shards import TarShardImages, expand_shards, is_tar_source, shards_in
from ganforge.data.zip_archive import ZipImages, is_dataset_zip

CONTAINER_FORMATS = ("a stylegan2-ada dataset .zip, an LMDB (folder with data.mdb, or *.mdb/*.lmdb), "
                     "a Hugging Face dataset saved with save_to_disk, WebDataset .tar shards (a file, "
                     "a folder of them, or name-{000..009}.tar)")


def open_container(path: Path) -> EncodedImages | None:
    """An index over `path` when it is one of the container formats, else None.
    (Brace patterns do not exist as paths, so they are checked before anything else.)"""
    if is_tar_source(path):
        shards = expand_shards(path)
        return TarShardImages(shards, str(path))
    if not path.exists():
        return None
    if is_lmdb(path):
        return LmdbImages(path)
    if path.is_dir():
        if is_hf_dataset(path):
            return HuggingFaceImages(path)
        shards = shards_in(path)
        if shards and not any(is_image_file(entry) for entry in path.iterdir()):
            return TarShardImages(shards, str(path))
        return None
    if is_dataset_zip(path):
        return ZipImages(path)
    return None
