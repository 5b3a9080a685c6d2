"""The compiled decoding loop on the project's tiny model with images: greedy equals an
uncached step-by-step reference, sampling behaves, beam search is the same under a sharded mesh.
(Beam search on both cache layouts is checked against transformers in test_hf_parity.py.)"""

import flax.linen as nn
import jax
import numpy as np
import pytest

from biomed_jax import sharding
from biomed_jax.decoding import CandidateTrie, decode, score_candidates
from biomed_jax.model import EncoderDecoder, model_config

# Untied output head: with tied embeddings an untrained decoder mostly repeats its input token,
# which would make every decoding method agree trivially.
CFG = model_config("t5_tiny", vocab_size=128, image_size=32, dropout_rate=0.0, tie_embeddings=False)
MAX_LEN = 8
BATCH = 8


def _inputs():
  rng = np.random.default_rng(0)
  enc = rng.integers(3, CFG.vocab_size, (BATCH, 9)).astype(np.int32)
  enc[0, 6:] = 0
  enc[3, 2:] = 0
  images = rng.uniform(-1, 1, (BATCH, 32, 32, 3)).astype(np.float32)
  image_mask = np.array([True, False, True, True, True, True, False, True])
  return enc, images, image_mask


@pytest.fixture(scope="module")
def setup():
  model = EncoderDecoder(CFG)
  enc, images, image_mask = _inputs()
  # The rbg key compiles the initialisers several times faster than threefry on CPU.
  variables = nn.meta.unbox(jax.jit(model.init)(
      jax.random.key(3, impl="unsafe_rbg"), enc, enc[:, :MAX_LEN], images))
  # A larger EOS output column, so that some (not all) sequences end before MAX_LEN.
  head = np.array(variables["params"]["lm_head"]["kernel"])
  head[:, 1] *= 3.0
  variables["params"]["lm_head"]["kernel"] = head
  forward = jax.jit(model.apply)
  return model, variables, (enc, images, image_mask), forward


def reference_greedy(forward, variables, inputs, max_length, allowed_fn=None):
  """Full forward pass over the whole prefix at every step (no cache), argmax; rows emit pad
  after EOS. allowed_fn(prefix tokens) -> allowed token ids, or None for all."""
  enc, images, image_mask = inputs
  b = enc.shape[0]
  dec = np.zeros((b, max_length), np.int32)
  tokens = np.zeros((b, max_length), np.int32)
  scores = np.zeros(b)
  done = np.zeros(b, bool)
  for t in range(max_length):
    logits = np.asarray(forward(variables, enc, dec, images, image_mask))[:, t]
    log_probs = np.asarray(jax.nn.log_softmax(logits))
    for i in range(b):
      if done[i]:
        continue
      row = logits[i].copy()
      if allowed_fn is not None:
        mask = np.full(row.shape, -np.inf)
        mask[allowed_fn(tokens[i, :t].tolist())] = 0
        row += mask
      tokens[i, t] = np.argmax(row)
      scores[i] += log_probs[i, tokens[i, t]]
      done[i] = tokens[i, t] == 1
    if t + 1 < max_length:
      dec[:, t + 1] = tokens[:, t]
  return tokens, scores


@pytest.fixture(scope="module")
def greedy(setup):
  model, variables, inputs, _ = setup
  return decode(model, variables, *inputs, max_length=MAX_LEN)


def test_compiled_greedy_equals_uncached_reference(setup, greedy):
  model, variables, inputs, forward = setup
  tokens, scores = reference_greedy(forward, variables, inputs, MAX_LEN)
  np.testing.assert_array_equal(np.asarray(greedy.tokens), tokens)
  np.testing.assert_allclose(np.asarray(greedy.scores), scores, rtol=1e-4, atol=1e-4)
  # The fixture is not degenerate: outputs depend on the input, some end early.
  assert len({tuple(row) for row in tokens}) > BATCH // 2
  assert 0 < (tokens == 1).any(1).sum() < BATCH


def test_sampling_with_vanishing_top_p_is_greedy(setup, greedy):
  model, variables, inputs, _ = setup
  for top_p in (0.0, 1e-4):
    got = decode(model, variables, *inputs, max_length=MAX_LEN, method="sample",
                 top_p=top_p, temperature=0.7, rng=jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(got.tokens), np.asarray(greedy.tokens))
    np.testing.assert_allclose(np.asarray(got.scores), np.asarray(greedy.scores), rtol=1e-5)


def test_sampling_is_deterministic_per_key_and_follows_the_distribution(setup):
  model, variables, inputs, forward = setup
  run = lambda key, temperature=1.0: np.asarray(decode(
      model, variables, *inputs, max_length=MAX_LEN, method="sample", top_p=1.0,
      temperature=temperature, rng=key).tokens)
  np.testing.assert_array_equal(run(jax.random.key(7)), run(jax.random.key(7)))
  assert (run(jax.random.key(7)) != run(jax.random.key(8))).any()

  # First-token frequencies over many keys match softmax(logits / temperature).
  temperature, draws = 1.5, 300
  first = np.stack([run(jax.random.key(100 + i), temperature)[:, 0] for i in range(draws)])
  enc, images, image_mask = inputs
  logits = np.asarray(forward(variables, enc, np.zeros((BATCH, 1), np.int32), images,
                              image_mask))[:, 0]
  probs = np.asarray(jax.nn.softmax(logits / temperature))
  for i in range(BATCH):
    for token in np.argsort(-probs[i])[:3]:
      p = probs[i, token]
      freq = np.mean(first[:, i] == token)
      assert abs(freq - p) < 4.5 * np.sqrt(p * (1 - p) / draws) + 0.01, (i, token, freq, p)


@pytest.fixture(scope="module")
def beam(setup):
  model, variables, inputs, _ = setup
  return decode(model, variables, *inputs, max_length=MAX_LEN, method="beam", beam_size=4)


def test_beam_search_keeps_sorted_distinct_hypotheses(beam, greedy):
  tokens, scores = np.asarray(beam.beam_tokens), np.asarray(beam.beam_scores)
  np.testing.assert_array_equal(np.asarray(beam.tokens), tokens[:, 0])
  assert np.isfinite(scores).all() and (np.diff(scores, axis=1) <= 0).all()
  for kept in tokens:
    assert len({tuple(row) for row in kept}) == len(kept)
    for row in kept:  # EOS then only padding
      ends = np.flatnonzero(row == 1)
      if ends.size:
        assert (row[ends[0] + 1:] == 0).all()
  assert (np.asarray(beam.tokens) != np.asarray(greedy.tokens)).any()


def test_beam_search_under_a_sharded_mesh_equals_single_device(setup, beam):
  if len(jax.devices()) < 8:
    pytest.skip("needs 8 devices (tests/conftest.py sets XLA_FLAGS for 8 CPU devices)")
  model, variables, inputs, _ = setup
  mesh = sharding.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  rules = sharding.DEFAULT_RULES
  enc, images, image_mask = inputs
  abstract = jax.eval_shape(model.init, jax.random.key(0), enc, enc[:, :MAX_LEN], images)
  shardings = sharding.logical_shardings(abstract, mesh, rules)
  sharded_vars = jax.device_put(variables, shardings)
  assert not sharded_vars["params"]["lm_head"]["kernel"].sharding.is_fully_replicated
  batch = sharding.batch_sharding(mesh, rules)
  sharded_inputs = [jax.device_put(x, batch) for x in inputs]
  with sharding.mesh_context(mesh, rules):
    got = decode(model, sharded_vars, *sharded_inputs, max_length=MAX_LEN, method="beam",
                 beam_size=4)
  np.testing.assert_array_equal(np.asarray(got.beam_tokens), np.asarray(beam.beam_tokens))
  np.testing.assert_allclose(np.asarray(got.beam_scores), np.asarray(beam.beam_scores),
                             rtol=1e-4)


# Closed-set decoding. Token-level prefixes: [5] < [5, 7] < [5, 7, 9, 11] and [20] < [20, 21].
CANDIDATES = [[5], [5, 7], [5, 7, 9, 11], [20, 21], [20], [30, 31, 32]]


def _next_tokens(prefix: list[int]) -> list[int]:
  """Tokens that keep `prefix` inside the candidate set (EOS ends a candidate)."""
  rows = [c + [1] for c in CANDIDATES]
  return sorted({r[len(prefix)] for r in rows if r[:len(prefix)] == prefix and
                 len(r) > len(prefix)})


@pytest.fixture(scope="module")
def closed_set(setup):
  model, variables, inputs, _ = setup
  trie = CandidateTrie.from_token_lists(CANDIDATES)
  allcand = score_candidates(model, variables, *inputs, trie, chunk_size=4)
  return trie, allcand


def _members(tokens):
  members = {tuple(c + [1]) for c in CANDIDATES}
  out = []
  for row in np.asarray(tokens):
    ends = np.flatnonzero(row == 1)
    assert ends.size and (row[ends[0] + 1:] == 0).all(), row
    assert tuple(row[:ends[0] + 1]) in members, row
    out.append(tuple(row[:ends[0]]))
  return out


def test_trie_constrained_greedy_is_the_best_allowed_token_each_step(setup, closed_set):
  model, variables, inputs, forward = setup
  trie, allcand = closed_set
  got = decode(model, variables, *inputs, max_length=MAX_LEN, constraint=trie)
  chosen = _members(got.tokens)
  tokens, scores = reference_greedy(forward, variables, inputs, MAX_LEN, _next_tokens)
  np.testing.assert_array_equal(np.asarray(got.tokens), tokens)
  np.testing.assert_allclose(np.asarray(got.scores), scores, rtol=1e-4, atol=1e-4)
  # The score is the model's log-likelihood of the chosen candidate, as teacher forcing says.
  index = trie.index_of(np.asarray(got.tokens))
  np.testing.assert_allclose(np.asarray(got.scores),
                             np.asarray(allcand.log_likelihood)[np.arange(BATCH), index],
                             rtol=1e-4, atol=1e-4)
  assert len(set(chosen)) > 1


def test_trie_constrained_sampling_returns_members(setup, closed_set):
  model, variables, inputs, _ = setup
  trie, _ = closed_set
  chosen = set()
  for seed in range(3):
    got = decode(model, variables, *inputs, max_length=MAX_LEN, method="sample",
                 temperature=5.0, rng=jax.random.key(seed), constraint=trie)
    chosen |= set(_members(got.tokens))
  assert len(chosen) > 1


def test_trie_constrained_beam_search_is_exhaustive_with_enough_beams(setup, closed_set):
  """With at least as many beams as candidates no candidate is ever dropped, so beam search
  returns the candidate with the best (length-normalised) teacher-forced score."""
  model, variables, inputs, _ = setup
  trie, allcand = closed_set
  log_likelihood = np.asarray(allcand.log_likelihood)
  lengths = np.array([len(c) + 1 for c in CANDIDATES])
  for length_penalty in (0.0, 1.0):
    got = decode(model, variables, *inputs, max_length=MAX_LEN, method="beam",
                 beam_size=len(CANDIDATES), length_penalty=length_penalty, constraint=trie)
    normalised = log_likelihood / lengths ** length_penalty
    _members(got.tokens)
    np.testing.assert_array_equal(trie.index_of(np.asarray(got.tokens)),
                                  np.argmax(normalised, axis=1))
    np.testing.assert_allclose(np.asarray(got.beam_scores), -np.sort(-normalised, axis=1),
                               rtol=1e-4, atol=1e-4)
    for kept in np.asarray(got.beam_tokens):  # every candidate, prefixes included
      assert sorted(_members(kept)) == sorted(tuple(c) for c in CANDIDATES)
  np.testing.assert_array_equal(np.asarray(allcand.best), np.argmax(log_likelihood, axis=1))


def test_trie_constrained_beam_search_with_fewer_beams_returns_members(setup, closed_set):
  model, variables, inputs, _ = setup
  trie, _ = closed_set
  got = decode(model, variables, *inputs, max_length=trie.max_length, method="beam",
               beam_size=2, constraint=trie)
  _members(got.tokens)
  for kept in np.asarray(got.beam_tokens):
    _members(kept)
  with pytest.raises(ValueError, match="shorter than the longest candidate"):
    decode(model, variables, *inputs, max_length=trie.max_length - 1, constraint=trie)


def test_bad_arguments_are_reported(setup):
  model, variables, inputs, _ = setup
  text_only = {"params": {k: v for k, v in variables["params"].items() if k != "vision"}}
  with pytest.raises(ValueError, match="no vision encoder"):
    decode(model, text_only, *inputs, max_length=MAX_LEN)
  with pytest.raises(ValueError, match="method="):
    decode(model, variables, *inputs, max_length=MAX_LEN, method="nucleus")
  with pytest.raises(ValueError, match="needs rng"):
    decode(model, variables, *inputs, max_length=MAX_LEN, method="sample")
  with pytest.raises(ValueError, match="temperature"):
    decode(model, variables, *inputs, max_length=MAX_LEN, method="sample", temperature=0.0,
           rng=jax.random.key(0))
  with pytest.raises(ValueError, match="early_stopping"):
    decode(model, variables, *inputs, max_length=MAX_LEN, method="beam", early_stopping="soon")
