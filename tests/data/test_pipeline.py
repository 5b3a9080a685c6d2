"""Grain pipelines: contract batches, mixture weights, exact resume with workers, bad input."""

import collections
import json
import os

from absl import flags
import grain
import numpy as np
from PIL import Image
import pytest
import sentencepiece as spm

from biomed_jax.data import images as images_lib
from biomed_jax.data import mixing
from biomed_jax.data import pipeline
from biomed_jax.data import tasks
from biomed_jax.data.records import DataError, Record
from biomed_jax.data.tokenizer import Tokenizer

LS, LT, SIZE = 96, 24, 16
ORGANS = ("liver", "lung", "heart", "kidney", "brain", "spleen")


# ---------------------------------------------------------------------------------------------
# Fixtures: a tiny tokenizer and datasets in their publishers' layouts.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  folder = tmp_path_factory.mktemp("spm")
  lines = []
  for i in range(300):
    organ = ORGANS[i % len(ORGANS)]
    lines.append(f"Is there a mass in the {organ}? yes no. Which of the following is the best "
                 f"treatment for patient {i}? The {organ} appears normal. entailment neutral "
                 f"contradiction. Labs were notable for Cr {i % 7}.{i % 10}.")
  corpus = folder / "corpus.txt"
  corpus.write_text("\n".join(lines))
  spm.SentencePieceTrainer.train(
      input=str(corpus), model_prefix=str(folder / "tiny"), vocab_size=400, pad_id=0, eos_id=1,
      unk_id=2, bos_id=-1, byte_fallback=True, model_type="unigram", minloglevel=2,
      hard_vocab_limit=False)
  return Tokenizer(str(folder / "tiny.model"), num_location_bins=16)


def _write_json(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(data, f)


def _write_jsonl(path, rows, raw_lines=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    for position, row in enumerate(rows):
      if raw_lines and position in raw_lines:
        f.write(raw_lines[position] + "\n")
      f.write(json.dumps(row) + "\n")


def _vqa_item(qid, image, question, answer, answer_type="CLOSED", phrase_type="freeform"):
  return {"qid": qid, "image_name": image, "image_organ": "CHEST", "question": question,
          "answer": answer, "answer_type": answer_type, "question_type": "PRES",
          "phrase_type": phrase_type}


def write_vqa_rad(root, items, n_images=6):
  """VQA_RAD Dataset Public.json + VQA_RAD Image Folder/*.jpg, as published."""
  _write_json(os.path.join(root, "VQA_RAD Dataset Public.json"), items)
  folder = os.path.join(root, "VQA_RAD Image Folder")
  os.makedirs(folder, exist_ok=True)
  for i in range(n_images):
    Image.new("RGB", (24, 20), (40 * i, 255 - 40 * i, 90)).save(
        os.path.join(folder, f"synpic{i}.jpg"))
  return root


def vqa_items(n, test=0):
  items = []
  for i in range(n + test):
    organ = ORGANS[i % len(ORGANS)]
    closed = i % 2 == 0
    items.append(_vqa_item(
        i, f"synpic{i % 6}.jpg", f"Is there a mass in the {organ}?" if closed else
        f"Which organ is shown {i}?", ("Yes" if i % 4 == 0 else "no") if closed else organ,
        "CLOSED" if closed else "OPEN", "test_freeform" if i >= n else "freeform"))
  return items


def mednli_rows(n, offset=0):
  labels = ("entailment", "contradiction", "neutral")
  return [{"sentence1": f"Labs were notable for Cr {i % 7}.{i % 10}.",
           "sentence2": f"The {ORGANS[i % 6]} appears normal.", "gold_label": labels[i % 3],
           "pairID": f"pair-{offset + i}"} for i in range(n)]


def write_mednli(root, train, dev, raw_lines=None):
  _write_jsonl(os.path.join(root, "mli_train_v1.jsonl"), train, raw_lines)
  _write_jsonl(os.path.join(root, "mli_dev_v1.jsonl"), dev)
  _write_jsonl(os.path.join(root, "mli_test_v1.jsonl"), dev[:1])
  return root


def medqa_rows(n):
  rows = []
  for i in range(n):
    options = {letter: f"{organ} treatment" for letter, organ in zip("ABCDE", ORGANS)}
    idx = "ABCDE"[i % 5]
    rows.append({"question": f"Which of the following is the best treatment for patient {i}?",
                 "answer": options[idx], "options": options, "meta_info": "step1",
                 "answer_idx": idx})
  return rows


def write_medqa(root, n):
  for part in ("train", "dev", "test"):
    _write_jsonl(os.path.join(root, f"{part}.jsonl"), medqa_rows(n))
  return root


@pytest.fixture(scope="module")
def clean_dirs(tmp_path_factory):
  base = tmp_path_factory.mktemp("clean")
  return {
      "vqa_rad": write_vqa_rad(str(base / "vqa_rad"), vqa_items(36, test=5)),
      "mednli": write_mednli(str(base / "mednli"), mednli_rows(30), mednli_rows(13, 100)),
      "medqa": write_medqa(str(base / "medqa"), 25),
  }


MIXTURE = (("vqa_rad", 0.5), ("mednli", 0.3), ("medqa", 0.2))


def _train(tokenizer, raw_dirs, mixture=MIXTURE, **kwargs):
  args = dict(tokenizer=tokenizer, batch_size=8, image_size=SIZE, max_source_len=LS,
              max_target_len=LT, seed=0, raw_dirs=raw_dirs)
  args.update(kwargs)
  return pipeline.make_train_iterator(mixture, **args)


def _eval(tokenizer, raw_dirs, task, **kwargs):
  args = dict(tokenizer=tokenizer, batch_size=4, image_size=SIZE, max_source_len=LS,
              max_target_len=LT, raw_dirs=raw_dirs)
  args.update(kwargs)
  return pipeline.make_eval_iterator(task, **args)


def _expected_tokens(tokenizer, text, limit, width):
  """What the pipeline should produce: cut to min(task limit, batch width), EOS, zeros."""
  limit = min(limit, width)
  ids = tokenizer.encode(text)[:limit - 1] + [tokenizer.eos_id]
  return np.array(ids + [0] * (width - len(ids)), np.int32)


def _expected_source(tokenizer, task, record, template):
  """The encoder input: a too-long field is cut first (Task.fitted_source), then the tokens."""
  room = min(task.max_source_len, LS) - 1
  text, _ = task.fitted_source(record, template, lambda t: len(tokenizer.encode(t)) <= room)
  return _expected_tokens(tokenizer, text, task.max_source_len, LS)


# ---------------------------------------------------------------------------------------------
# Batch contract.
# ---------------------------------------------------------------------------------------------
def test_batches_follow_the_contract(tokenizer, clean_dirs):
  iterator = _train(tokenizer, clean_dirs)
  records = {name: pipeline.load_records(name, "train", raw_dirs=clean_dirs)[0]
             for name, _ in MIXTURE}
  seen_tasks = set()
  for _ in range(4):
    batch = next(iterator)
    expected = {"encoder_tokens": ((8, LS), np.int32), "decoder_inputs": ((8, LT), np.int32),
                "decoder_targets": ((8, LT), np.int32),
                "decoder_loss_weights": ((8, LT), np.float32),
                "images": ((8, SIZE, SIZE, 3), np.float32), "image_mask": ((8,), np.bool_),
                "task_id": ((8,), np.int32), "example_mask": ((8,), np.bool_),
                "example_index": ((8,), np.int32)}
    assert set(batch) == set(expected)
    for name, (shape, dtype) in expected.items():
      assert batch[name].shape == shape and batch[name].dtype == dtype, name
    targets, inputs = batch["decoder_targets"], batch["decoder_inputs"]
    np.testing.assert_array_equal(inputs[:, 0], 0)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    weights = batch["decoder_loss_weights"]
    np.testing.assert_array_equal(weights, (targets != 0).astype(np.float32))
    lengths = weights.sum(1).astype(int)
    np.testing.assert_array_equal(targets[np.arange(8), lengths - 1], tokenizer.eos_id)
    assert batch["example_mask"].all()
    for row in range(8):
      name = MIXTURE[batch["task_id"][row]][0]
      seen_tasks.add(name)
      task = tasks.TASKS[name]
      record = records[name][batch["example_index"][row]]
      np.testing.assert_array_equal(
          targets[row], _expected_tokens(tokenizer, task.target(record), task.max_target_len,
                                         LT))
      assert tokenizer.decode(targets[row]) == task.target(record)
      sources = [_expected_source(tokenizer, task, record, t)
                 for t in range(len(task.templates))]
      assert any(np.array_equal(batch["encoder_tokens"][row], s) for s in sources)
      image = batch["images"][row]
      if name == "vqa_rad":
        assert batch["image_mask"][row]
        assert image.min() >= -1 and image.max() <= 1 and np.abs(image).sum() > 0
      else:
        assert not batch["image_mask"][row] and not image.any()
  assert seen_tasks == {"vqa_rad", "mednli", "medqa"}


def test_model_example_inputs_match_the_pipelines_batches(tokenizer, clean_dirs):
  """The model is built from shapes the contract derives; they are the batches' own."""
  from biomed_jax.data import batch_contract  # pylint: disable=g-import-not-at-top
  from biomed_jax.model import model_config  # pylint: disable=g-import-not-at-top
  from biomed_jax.training import state as state_lib  # pylint: disable=g-import-not-at-top
  batch = next(_train(tokenizer, clean_dirs))
  inputs = state_lib.example_inputs(model_config("t5_tiny", image_size=SIZE), 8, LS, LT)
  assert tuple(inputs) == batch_contract.batch_keys(packed=False, model_inputs_only=True)
  for name, spec in inputs.items():
    assert (spec.shape, spec.dtype) == (batch[name].shape, batch[name].dtype), name
  assert set(batch) == set(batch_contract.batch_keys(packed=False))


def test_mixture_weights_are_respected(tokenizer, clean_dirs):
  for shard_index, shard_count, n in ((0, 1, 5000), (1, 2, 2500)):
    iterator = _train(tokenizer, clean_dirs, batch_size=100, max_source_len=32,
                      max_target_len=8, shard_index=shard_index, shard_count=shard_count)
    counts = collections.Counter()
    for _ in range(n // 100):
      batch = next(iterator)
      counts.update(batch["task_id"].tolist())
    fractions = [counts[i] / n for i in range(3)]
    for fraction, (_, weight) in zip(fractions, MIXTURE):
      assert abs(fraction - weight) <= 0.03, fractions


def test_block_mix_keeps_task_order_and_exact_block_counts():
  counts = mixing.block_counts([0.5, 0.3, 0.2])
  assert counts.sum() == 1024 and counts[0] == 512
  assert abs(counts[1] / counts.sum() - 0.3) < 1e-3
  tiny = mixing.block_counts([1.0, 1e-4])
  assert tiny[1] >= 1 and abs(tiny[1] / tiny.sum() - 1e-4) < 2e-5
  streams = [grain.MapDataset.range(i * 10**6, (i + 1) * 10**6) for i in range(3)]
  mix = mixing.BlockMix(streams, [0.5, 0.3, 0.2], seed=3)
  block = int(mix.counts.sum())
  values = np.array([mix[i] for i in range(2 * block)])
  tasks_of = values // 10**6
  for task in range(3):
    mine = values[tasks_of == task] - task * 10**6
    np.testing.assert_array_equal(mine, np.arange(len(mine)))  # each stream in order
    assert (tasks_of[:block] == task).sum() == mix.counts[task]  # exact per block
  assert not np.array_equal(tasks_of[:block], tasks_of[block:])  # fresh order per block
  assert [mix[i] for i in range(50)] == [mixing.BlockMix(streams, [0.5, 0.3, 0.2], seed=3)[i]
                                         for i in range(50)]


def test_same_seed_same_batches_other_seed_other_batches(tokenizer, clean_dirs):
  first = [next(_train(tokenizer, clean_dirs)) for _ in range(1)][0]
  again = next(_train(tokenizer, clean_dirs))
  other = next(_train(tokenizer, clean_dirs, seed=1))
  for name in first:
    np.testing.assert_array_equal(first[name], again[name])
  assert any(not np.array_equal(first[name], other[name]) for name in first)


def test_templates_vary_in_training(tokenizer, clean_dirs):
  iterator = _train(tokenizer, clean_dirs, mixture=(("mednli", 1.0),), batch_size=30)
  batch = next(iterator)
  records = pipeline.load_records("mednli", "train", raw_dirs=clean_dirs)[0]
  task = tasks.TASKS["mednli"]
  used = set()
  for row in range(30):
    record = records[batch["example_index"][row]]
    for t in range(len(task.templates)):
      if np.array_equal(batch["encoder_tokens"][row],
                        _expected_source(tokenizer, task, record, t)):
        used.add(t)
  assert len(used) == len(task.templates)
  # One epoch of 30 records visits each record once.
  assert sorted(batch["example_index"].tolist()) == list(range(30))


# ---------------------------------------------------------------------------------------------
# Exact resume with worker processes, through the Orbax checkpoint handler.
# ---------------------------------------------------------------------------------------------
def test_resume_mid_epoch_with_two_workers_is_exact(tokenizer, tmp_path, clean_dirs):
  flags.FLAGS.mark_as_parsed()
  dirs = dict(clean_dirs)
  items = vqa_items(36)
  dirs["vqa_rad"] = write_vqa_rad(str(tmp_path / "vqa_rad"), items)
  with open(os.path.join(dirs["vqa_rad"], "VQA_RAD Image Folder", "synpic5.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0 not really a jpeg")  # skipped and counted on every visit
  kwargs = dict(worker_count=2, batch_size=6)
  handler = grain.checkpoint.CheckpointHandler()  # what Orbax calls for CheckpointSave/Restore
  (tmp_path / "ckpt").mkdir()
  reference = _train(tokenizer, dirs, **kwargs)
  expected = []
  for step in range(7):
    if step == 3:  # checkpoint mid-epoch, then keep going uninterrupted
      handler.save(tmp_path / "ckpt", item=reference)
    expected.append(next(reference))
  expected_counts = reference.problem_counts
  reference.close()
  saved = json.loads(next((tmp_path / "ckpt").glob("*.json")).read_text())
  assert "problem_counts" in saved

  assert not np.array_equal(expected[0]["encoder_tokens"], expected[3]["encoder_tokens"])
  resumed = handler.restore(tmp_path / "ckpt", item=_train(tokenizer, dirs, **kwargs))
  for want in expected[3:]:
    got = next(resumed)
    assert set(got) == set(want)
    for name in want:
      np.testing.assert_array_equal(got[name], want[name], err_msg=name)
  assert resumed.problem_counts == expected_counts
  assert expected_counts["vqa_rad"]["bad_image"] >= 1
  resumed.close()


# ---------------------------------------------------------------------------------------------
# Bad input, both policies.
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def bad_dirs(tmp_path):
  items = vqa_items(12)
  items.append(_vqa_item(100, "synpic_missing.jpg", "Is it there?", "no"))  # missing file
  items.append(_vqa_item(101, "synpic0.jpg", "   ", "yes"))  # empty question
  items.append(_vqa_item(102, "synpic1.jpg", "Is it normal?", ""))  # empty answer
  items.append(_vqa_item(103, "corrupt.jpg", "Is the heart enlarged?", "yes"))
  items.append(_vqa_item(104, "truncated.png", "Is the lung clear?", "no"))
  items.append(_vqa_item(105, "synpic2.jpg", "Is there " + "a very long question " * 30 + "?",
                         "yes"))
  root = write_vqa_rad(str(tmp_path / "vqa_rad"), items)
  folder = os.path.join(root, "VQA_RAD Image Folder")
  with open(os.path.join(folder, "corrupt.jpg"), "wb") as f:
    f.write(b"garbage" * 50)
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)).save(
      os.path.join(folder, "truncated.png"))
  data = open(os.path.join(folder, "truncated.png"), "rb").read()
  with open(os.path.join(folder, "truncated.png"), "wb") as f:
    f.write(data[:len(data) // 2])
  train = mednli_rows(10)
  train[3]["sentence2"] = "The " + "extremely long hypothesis " * 200
  long_label_dev = mednli_rows(4, 50)
  mednli = write_mednli(str(tmp_path / "mednli"), train, long_label_dev,
                        raw_lines={5: '{"sentence1": "broken", "sentence2": '})
  return {"vqa_rad": root, "mednli": mednli}


def test_skip_policy_drops_and_counts_every_kind(tokenizer, bad_dirs):
  iterator = _train(tokenizer, bad_dirs, mixture=(("vqa_rad", 0.5), ("mednli", 0.5)),
                    bad_records="skip", batch_size=10)
  records = pipeline.load_records("vqa_rad", "train", raw_dirs=bad_dirs, bad_records="skip")[0]
  bad_ids = {"103", "104"}
  bad_indices = {i for i, r in enumerate(records) if r.id in bad_ids}
  assert len(bad_indices) == 2  # the reader keeps them: their files exist
  for _ in range(10):  # 100 examples: ~50 of each task, > 2 epochs of both
    batch = next(iterator)
    vqa_rows = batch["task_id"] == 0
    assert not set(batch["example_index"][vqa_rows].tolist()) & bad_indices
    assert batch["example_mask"].all()
  counts = iterator.problem_counts
  assert counts["vqa_rad"]["missing_image"] == 1  # found by the reader, once
  assert counts["vqa_rad"]["empty_field"] == 2
  assert counts["vqa_rad"]["bad_image"] >= 4  # corrupt + truncated, every epoch
  assert counts["vqa_rad"]["source_truncated"] >= 1
  assert counts["mednli"]["malformed"] == 1
  assert counts["mednli"]["source_truncated"] >= 1


def test_truncated_examples_keep_eos(tokenizer, bad_dirs):
  iterator = _eval(tokenizer, bad_dirs, "vqa_rad", split="train", bad_records="skip",
                   max_source_len=20)
  records = pipeline.load_records("vqa_rad", "train", raw_dirs=bad_dirs, bad_records="skip")[0]
  long_index = next(i for i, r in enumerate(records) if r.id == "105")
  for batch in iterator:
    rows = np.flatnonzero(batch["example_index"] == long_index)
    if rows.size:
      tokens = batch["encoder_tokens"][rows[0]]
      assert tokens[-1] == tokenizer.eos_id and (tokens != 0).all()
  assert iterator.problem_counts["vqa_rad"]["source_truncated"] >= 1


def test_fail_policy_names_dataset_file_and_record(tokenizer, bad_dirs, tmp_path):
  # Reader-level problems fail at construction.
  with pytest.raises(DataError) as info:
    _train(tokenizer, bad_dirs, bad_records="fail", mixture=(("vqa_rad", 1.0),))
  assert info.value.dataset == "vqa_rad" and info.value.record_id == "100"
  assert "VQA_RAD Dataset Public.json" in info.value.source
  with pytest.raises(DataError) as info:
    _train(tokenizer, bad_dirs, bad_records="fail", mixture=(("mednli", 1.0),))
  assert "mli_train_v1.jsonl" in info.value.source and "line 6" in str(info.value)

  # Per-example problems (an image that does not decode) fail when the batch arrives,
  # also when they were met in a worker process.
  png = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8))
  png.save(tmp_path / "full.png")
  full = (tmp_path / "full.png").read_bytes()
  for name, content, workers in (("corrupt.jpg", b"garbage" * 50, 0),
                                 ("corrupt.jpg", b"garbage" * 50, 2),
                                 ("truncated.png", full[:len(full) // 2], 0)):
    root = write_vqa_rad(str(tmp_path / f"{name}_{workers}"),
                         vqa_items(6) + [_vqa_item(103, name, "Is it?", "yes")])
    with open(os.path.join(root, "VQA_RAD Image Folder", name), "wb") as f:
      f.write(content)
    if workers:
      flags.FLAGS.mark_as_parsed()
    iterator = _eval(tokenizer, {"vqa_rad": root}, "vqa_rad", split="train",
                     worker_count=workers)  # evaluation defaults to "fail"
    with pytest.raises(DataError) as info:
      list(iterator)
    assert info.value.dataset == "vqa_rad" and info.value.record_id == "103"
    assert info.value.source.endswith(name) and "unreadable image" in str(info.value)
    iterator.close()


def test_problems_found_in_the_pipeline_itself(tokenizer, tmp_path):
  """Records handed over in memory (or read back from prepared data) are checked too."""
  image = tmp_path / "ok.png"
  Image.new("RGB", (8, 8), (10, 20, 30)).save(image)
  good = [Record("vqa_rad", "train", str(i), "qa.json", (str(image),),
                 {"question": "Is it?", "answer": "yes", "answer_type": "CLOSED"})
          for i in range(6)]
  bad = {"m": Record("vqa_rad", "train", "m", "qa.json", (str(tmp_path / "gone.png"),),
                     {"question": "Is it?", "answer": "yes"}),
         "a": Record("vqa_rad", "train", "a", "qa.json", (str(image),),
                     {"question": "Is it?", "answer": "  "}),
         "q": Record("vqa_rad", "train", "q", "qa.json", (str(image),),
                     {"question": "", "answer": "yes"}),
         "n": Record("vqa_rad", "train", "n", "qa.json", (), {"question": "Is it?",
                                                              "answer": "no"})}
  long = Record("vqa_rad", "train", "long", "qa.json", (str(image),),
                {"question": "Is it " + "really " * 200 + "there?", "answer": "yes"})
  args = dict(tokenizer=tokenizer, batch_size=4, image_size=SIZE, max_source_len=LS,
              max_target_len=LT, split="train")
  iterator = pipeline.make_eval_iterator("vqa_rad", bad_records="skip",
                                         records={"vqa_rad": good + list(bad.values())}, **args)
  batches = list(iterator)
  assert sum(int(b["example_mask"].sum()) for b in batches) == 6
  assert iterator.problem_counts == {"vqa_rad": {"missing_image": 2, "empty_field": 2}}
  expected = {"m": "missing image file", "a": "empty field 'answer'",
              "q": "empty field 'question'", "n": "record has no image"}
  for record_id, record in bad.items():
    with pytest.raises(DataError) as info:
      list(pipeline.make_eval_iterator("vqa_rad", records={"vqa_rad": good + [record]}, **args))
    assert info.value.record_id == record_id and expected[record_id] in str(info.value)
    assert info.value.dataset == "vqa_rad"
    assert info.value.source == (str(tmp_path / "gone.png") if record_id == "m" else "qa.json")
  # Too long is never an error: cut (EOS kept) and counted under "fail" too.
  iterator = pipeline.make_eval_iterator("vqa_rad", records={"vqa_rad": [long]}, **args)
  tokens = next(iterator)["encoder_tokens"][0]
  limit = tasks.TASKS["vqa_rad"].max_source_len  # 80 < LS: the task's own limit applies
  assert (tokens[:limit] != 0).all() and tokens[limit - 1] == tokenizer.eos_id
  assert not tokens[limit:].any()
  assert iterator.problem_counts == {"vqa_rad": {"source_truncated": 1}}


# ---------------------------------------------------------------------------------------------
# Evaluation iterators.
# ---------------------------------------------------------------------------------------------
def test_eval_is_one_ordered_pass_with_template_zero_and_masked_padding(tokenizer, clean_dirs):
  task = tasks.TASKS["mednli"]
  records = pipeline.load_records("mednli", "validation", raw_dirs=clean_dirs)[0]
  assert len(records) == 13
  batches = list(_eval(tokenizer, clean_dirs, "mednli", task_id=2))
  assert len(batches) == 4
  indices = np.concatenate([b["example_index"] for b in batches])
  mask = np.concatenate([b["example_mask"] for b in batches])
  assert indices[mask].tolist() == list(range(13)) and (indices[~mask] == -1).all()
  last = batches[-1]
  assert last["example_mask"].tolist() == [True, False, False, False]
  assert not last["encoder_tokens"][1:].any() and not last["decoder_loss_weights"][1:].any()
  for batch in batches:
    assert (batch["task_id"] == 2).all()
    for row in np.flatnonzero(batch["example_mask"]):
      record = records[batch["example_index"][row]]
      np.testing.assert_array_equal(batch["encoder_tokens"][row],
                                    _expected_tokens(tokenizer, task.source(record, 0), 512, LS))


def test_eval_images_are_not_augmented_and_shards_partition(tokenizer, clean_dirs):
  records = pipeline.load_records("vqa_rad", "test", raw_dirs=clean_dirs)[0]
  seen = []
  for shard in range(2):
    for batch in _eval(tokenizer, clean_dirs, "vqa_rad", split="test", shard_index=shard,
                       shard_count=2, batch_size=2):
      for row in np.flatnonzero(batch["example_mask"]):
        record = records[batch["example_index"][row]]
        expected = images_lib.to_model_input(images_lib.decode_image(record.images[0]), SIZE)
        np.testing.assert_array_equal(batch["images"][row], expected)
        seen.append(int(batch["example_index"][row]))
  assert sorted(seen) == list(range(len(records)))


def test_prepared_data_gives_the_same_batches_as_the_published_files(tokenizer, clean_dirs,
                                                                      tmp_path):
  from biomed_jax.data import prepare  # pylint: disable=import-outside-toplevel
  prepare.prepare("vqa_rad", clean_dirs["vqa_rad"], str(tmp_path))
  from_files = list(_eval(tokenizer, clean_dirs, "vqa_rad", split="test"))
  prepared = list(_eval(tokenizer, {}, "vqa_rad", split="test", data_dir=str(tmp_path)))
  assert len(prepared) == len(from_files) == 2
  for want, got in zip(from_files, prepared):
    for name in want:
      np.testing.assert_array_equal(got[name], want[name], err_msg=name)
  train = _train(tokenizer, {}, mixture=(("vqa_rad", 1.0),), data_dir=str(tmp_path))
  assert next(train)["image_mask"].all()


def test_shipped_sample_mixture_feeds_every_task(tokenizer):
  mixture = [(name, 1.0) for name in tasks.SAMPLE_TASKS]
  iterator = pipeline.make_train_iterator(
      mixture, tokenizer=tokenizer, batch_size=48, image_size=SIZE, max_source_len=LS,
      max_target_len=LT, seed=0, bad_records="fail")
  task_ids = np.concatenate([next(iterator)["task_id"] for _ in range(3)])
  assert set(task_ids.tolist()) == set(range(6))
  for name in tasks.SAMPLE_TASKS:
    batch = next(iter(pipeline.make_eval_iterator(
        name, tokenizer=tokenizer, batch_size=4, image_size=SIZE, max_source_len=LS,
        max_target_len=LT)))
    assert batch["example_mask"].all()
    assert batch["image_mask"].all() == tasks.TASKS[name].uses_image


def test_candidate_answers_from_training_split(clean_dirs):
  assert pipeline.candidate_answers("vqa_rad", raw_dirs=clean_dirs) == ("no", "yes")
  assert pipeline.candidate_answers("mednli", raw_dirs=clean_dirs) == \
      ("entailment", "contradiction", "neutral")
  assert pipeline.candidate_answers("medqa", raw_dirs=clean_dirs) is None


def test_argument_errors(tokenizer, clean_dirs):
  with pytest.raises(ValueError, match="bad_records"):
    _train(tokenizer, clean_dirs, bad_records="ignore")
  with pytest.raises(ValueError, match="positive"):
    _train(tokenizer, clean_dirs, mixture=(("vqa_rad", 0.0),))
  with pytest.raises(ValueError, match="twice"):
    _train(tokenizer, clean_dirs, mixture=(("vqa_rad", 1.0), ("vqa_rad", 1.0)))
  with pytest.raises(ValueError, match="data_dir"):
    _train(tokenizer, {}, mixture=(("mednli", 1.0),))
