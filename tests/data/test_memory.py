"""Memory or streaming, decided from the decoded size against data.memory_limit."""
import pytest
import torch

from ganforge.data.batches import FolderStream, StreamingBatches
from ganforge.data.dataset import ImageDataset
from ganforge.data.encoded import EncodedStream
from ganforge.data.memory import decoded_bytes, parse_size, plan_memory, requested_in_memory
from ganforge.data.training_data import open_training_data
from ganforge.errors import ConfigError
from tests.data.containers import encoded_images, write_stylegan_zip
from tests.data.files import solid


@pytest.mark.parametrize("text, size", [("2GiB", 2 << 30), ("512MiB", 512 << 20), ("1.5GB", 1_500_000_000),
                                        ("800M", 800_000_000), ("4096", 4096), (" 3 kib ", 3072), (0, 0)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "2 parsecs", "-1GB", "GB", True, "1e9"])
def test_bad_sizes_are_config_errors_naming_the_field(text):
    with pytest.raises(ConfigError, match="data.memory_limit"):
        parse_size(text)


def test_decision_by_size_and_forced_choices():
    limit = decoded_bytes(1000, 3, 64)
    assert plan_memory(limit, limit, None, True).in_memory            # at the limit: memory
    assert not plan_memory(limit + 1, limit, None, True).in_memory    # over it: stream
    assert plan_memory(limit + 1, limit, True, True).in_memory        # forced
    assert not plan_memory(10, limit, False, True).in_memory          # forced
    plan = plan_memory(None, limit, None, False)                      # arrays: always whole
    assert plan.in_memory and "read whole" in plan.reason
    summary = plan_memory(limit + 1, "2GiB", None, True).summary()
    assert summary["decoded_bytes"] == limit + 1 and summary["memory_limit_bytes"] == 2 << 30
    assert summary["memory_decision"] == "decoded 11.7 MiB is within data.memory_limit=2.0 GiB"


def test_a_folder_over_the_limit_streams_and_under_it_loads(tmp_path):
    for index in range(6):
        solid(tmp_path / "f" / f"{index}.png", (index * 40, 0, 0))
    size = decoded_bytes(6, 3, 8)
    data, plan = open_training_data(str(tmp_path / "f"), image_size=8, memory_limit=size - 1)
    assert isinstance(data, FolderStream) and not plan.in_memory and plan.decoded_bytes == size
    data, plan = open_training_data(str(tmp_path / "f"), image_size=8, memory_limit=size)
    assert isinstance(data, ImageDataset) and plan.in_memory


def test_a_zip_over_the_limit_streams_the_same_batches_as_in_memory(tmp_path):
    """Same seeded order, same pixels and labels: streaming changes where decoding happens only."""
    path = write_stylegan_zip(tmp_path / "d.zip", encoded_images(12), [i % 3 for i in range(12)])
    stream, plan = open_training_data(str(path), image_size=12, memory_limit="1KiB")
    whole, _ = open_training_data(str(path), image_size=12, memory_limit="1GiB")
    assert isinstance(stream, EncodedStream) and isinstance(whole, ImageDataset) and not plan.in_memory
    from ganforge.data.batches import InMemoryBatches
    cpu = torch.device("cpu")
    streamed = StreamingBatches(stream, 4, seed=3, device=cpu, workers=1)
    held = InMemoryBatches(whole.images, whole.labels, 4, seed=3, device=cpu)
    for _ in range(5):  # across an epoch boundary (3 batches per epoch)
        (xs, ys), (xm, ym) = streamed.next(), held.next()
        assert torch.equal(xs, xm) and torch.equal(ys, ym)


def test_named_sources_and_arrays_never_stream(tmp_path):
    data, plan = open_training_data("digits", image_size=8, memory_limit=0)
    assert isinstance(data, ImageDataset) and plan.in_memory
    with pytest.warns(UserWarning, match="loaded into memory"):
        data, plan = open_training_data("digits", image_size=8, in_memory=False)
    assert isinstance(data, ImageDataset)


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), ("auto", None), ("AUTO", None),
                                             ("false", False), ("yes", True)])
def test_in_memory_setting(value, expected):
    assert requested_in_memory(value) is expected
    with pytest.raises(ConfigError, match="data.in_memory"):
        requested_in_memory("sometimes")


def _zip_stream(tmp_path, count=14):
    path = write_stylegan_zip(tmp_path / "d.zip", encoded_images(count), list(range(count)))
    stream, _ = open_training_data(str(path), image_size=12, in_memory=False)
    return stream


def test_each_rank_streams_only_its_own_disjoint_shard(tmp_path):
    stream = _zip_stream(tmp_path)
    seen = []
    for rank in range(2):
        batches = StreamingBatches(stream, 3, seed=5, device=torch.device("cpu"), rank=rank, world_size=2, workers=0)
        seen.append([int(y) for _ in range(2) for y in batches.next()[1]])  # labels are the indices
    assert len(set(seen[0])) == 6 and not set(seen[0]) & set(seen[1])


def test_a_resumed_stream_continues_the_same_order(tmp_path):
    stream = _zip_stream(tmp_path)
    cpu = torch.device("cpu")
    first = StreamingBatches(stream, 4, seed=1, device=cpu, workers=1)
    for _ in range(2):
        first.next()
    state = first.state_dict()
    rest = [first.next()[1].tolist() for _ in range(4)]  # crosses into the next epoch
    resumed = StreamingBatches(stream, 4, seed=1, device=cpu, workers=1)
    resumed.load_state_dict(state)
    assert [resumed.next()[1].tolist() for _ in range(4)] == rest
