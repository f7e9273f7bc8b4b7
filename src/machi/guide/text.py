"""Text analysis for the guide's search: normalisation, language, search terms.

Japanese goes through Sudachi and the dictionary's *normalized form* of each word, so that the
spelling variants residents type (表記ゆれ) meet the spelling of the FAQ: 引越し, 引っ越し and 引越
are all 引っ越し; 申込, 申込み and 申し込み are all 申し込み; こども and 子ども are 子供. Around it:

* NFKC first, so full-width Latin letters and digits and half-width katakana (ｼﾞｭｳﾐﾝﾋｮｳ) read as
  everyone else's, and one long vowel mark (ワ－ク = ワーク);
* katakana folded to hiragana (ゴミ = ごみ, オムツ = おむつ) and a word-final long vowel mark
  dropped (コンピュータ = コンピューター), for the words the dictionary does not unify;
* content words only (nouns, verbs, adjectives, suffixes such as 票 and 料, and the question
  words いつ, どこ, 誰, いくら), without the verbs every question is made of (する, 教える, 知る…);
* compounds as well as their parts: Sudachi's long unit (mode C: 住民票, 国民健康保険料) with its
  short units (mode A: 住民, 票), and a noun with the suffix after it (避難+所);
* the dictionary's synonym groups of each word (国保 = 国民健康保険, 学童 = 児童クラブ, 紛失 =
  無くす, 引っ越し = 転居, 保育園 = 保育所), as tokens of their own;
* the reading of the text, as kana trigrams, for what residents type in kana or with a homophone
  (じゅうみんひょう, 住民表 and 住民票 read alike; 離災証明書 and 罹災証明書 too).

English is lower-cased words with a light suffix stemmer (certificates = certificate, moving =
move), plus the Japanese terms an English text quotes (residence record (住民票の写し)). The
language of a text is told by its script.

Sudachi's dictionary is loaded once per process, on first use, under a lock; each thread gets its
own tokenizer.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Language = Literal["ja", "en"]

# Parts of speech whose words carry the topic of a question. 接尾辞 keeps 票 (住民票), 料 (保険料),
# 書 (証明書); 名詞 includes numbers, which matter (14日以内, 65歳).
_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "接尾辞"})
# Normalized forms that only build the sentence around the topic, in questions and answers alike.
_JA_STOPWORDS = frozenset(
    {
        "為る", "居る", "有る", "成る", "出来る", "下さる", "頂く", "致す", "御座る", "遣る",
        "呉れる", "貰う", "言う", "思う", "教える", "知る", "分かる", "行く", "来る", "良い",
        "欲しい", "事", "物", "所", "時", "様", "為", "方", "的", "等", "さん", "様々", "関する",
        "付く", "伺う", "尋ねる", "問い合わせ", "御", "此れ", "其れ", "何", "よう", "みたい",
        "ため", "もの", "こと", "ところ", "とき", "たち", "ら", "中", "際", "以下", "以上",
        "について", "如何", "どう", "件", "上", "又", "及び", "つく", "聞く", "こう", "そう",
    }
)  # fmt: skip

_EN_STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from about into over under
    as is am are was were be been being do does did doing have has had having i me my we our you
    your he she it its they them their this that these those there here what which who whom whose
    when where why how can could should would will shall may might must not no yes please want
    need get got know tell find out up so than too very just also any some all each every more
    most other such only own same s t""".split()  # noqa: SIM905
)

_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}  # ァ..ヶ -> ぁ..ゖ
_KATAKANA = re.compile(r"^[\u30a1-\u30fa\u30fc]+$")
_JA_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ]")
_LATIN = re.compile(r"[A-Za-z]")
_EN_WORD = re.compile(r"[a-z0-9]+")
# Runs of letters, digits, kana and kanji: character n-grams never cross punctuation or spaces.
_RUN = re.compile(r"[0-9a-z\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ー]+")
# Marks people type for the long vowel (‐, －, 〜 after katakana): NFKC leaves some of them.
_LONG_VOWEL_LOOKALIKES = re.compile(
    r"(?<=[\u30a1-\u30fa])[\u2010-\u2015\u2212\uff0d\u301c\uff5e~-]"
)


def normalize(text: str) -> str:
    """NFKC, lower-case Latin, one kind of long vowel mark, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _LONG_VOWEL_LOOKALIKES.sub("ー", text)
    return " ".join(text.lower().split())


def detect_language(text: str) -> Language:
    """``"en"`` for Latin script with at most a few Japanese words in it, else ``"ja"``.

    A Japanese character weighs three Latin letters: "How do I get 住民票?" is English,
    "マイナンバー card の更新" Japanese; a text with neither script is taken as Japanese.
    """
    japanese = len(_JA_CHARS.findall(text))
    latin = len(_LATIN.findall(unicodedata.normalize("NFKC", text)))
    return "en" if latin > 3 * japanese else "ja"


def fold_kana(word: str) -> str:
    """Katakana to hiragana and no word-final long vowel mark, for all-katakana words only."""
    if not _KATAKANA.match(word):
        return word
    folded = word.translate(_HIRAGANA)
    if len(folded) > 3 and folded.endswith("ー"):
        folded = folded[:-1]
    return folded


# -- Sudachi, loaded once


_dictionary: Any = None
_dictionary_lock = threading.Lock()
_local = threading.local()
# Parts of speech that never carry a reading worth matching (particles, endings, punctuation).
_NO_READING_POS = frozenset({"助詞", "助動詞", "補助記号", "空白"})
# Readings are matched as kana trigrams (bigrams and 4-grams did as well on our evaluation sets).
_READING_N = 3
# A word in more synonym groups than this is too ambiguous to stand for any of them.
_MAX_SYNONYM_GROUPS = 2


def _tokenizer() -> Any:
    """This thread's Sudachi tokenizer (split mode C; units are split to mode A as needed)."""
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        global _dictionary
        with _dictionary_lock:
            if _dictionary is None:
                from sudachipy import Dictionary

                _dictionary = Dictionary(dict="core")
        from sudachipy import SplitMode

        tokenizer = _dictionary.tokenizer(mode=SplitMode.C)
        _local.tokenizer = tokenizer
        _local.mode_a = SplitMode.A
    return tokenizer


@dataclass
class Analysis:
    """The search terms of one text, by kind (each kind is one field of the index)."""

    words: list[str] = field(default_factory=list)
    synonyms: list[str] = field(default_factory=list)
    readings: list[str] = field(default_factory=list)


def _term(morpheme: Any) -> str:
    """The normalised content word of a morpheme, or "" when it is not one."""
    if morpheme.part_of_speech()[0] not in _CONTENT_POS:
        if morpheme.normalized_form() in _INTERROGATIVES:
            return morpheme.normalized_form()
        return ""
    term = fold_kana(morpheme.normalized_form().lower())
    if term in _JA_STOPWORDS or not _RUN.fullmatch(term):
        return ""
    return term


# Question words stay: FAQ entries on one subject differ by what is asked (when, where, how much).
_INTERROGATIVES = frozenset({"いつ", "どこ", "誰", "幾ら"})


def _synonyms(morpheme: Any) -> list[str]:
    groups = morpheme.synonym_group_ids()
    if not groups or len(groups) > _MAX_SYNONYM_GROUPS:
        return []
    return [f"~{group}" for group in groups]


def analyse_ja(text: str) -> Analysis:
    """Words, Sudachi synonym groups and reading n-grams of a Japanese text.

    Words are the short units of split mode A, plus the compounds they form: the long unit of
    mode C (国民健康保険料) and a noun with the suffix that follows it (避難+所 = 避難所), so that
    a text with the compound ranks above one that merely has its parts. Synonym groups bridge
    words the dictionary knows to mean the same (国保 = 国民健康保険, 学童 = 児童クラブ, 紛失 =
    無くす, 保育園 = 保育所); readings bridge what a resident types in kana or with a homophone
    (じゅうみんひょう, 住民表 and 住民票 read alike).
    """
    result = Analysis()
    for chunk in _chunks(normalize(text)):
        _analyse_chunk(chunk, result)
    return result


# Sudachi refuses inputs over 49,149 bytes; a chunk of this many characters stays well below.
_CHUNK_CHARS = 4000


def _chunks(text: str) -> Iterator[str]:
    """The text in pieces Sudachi accepts, cut after a sentence end where there is one."""
    while len(text) > _CHUNK_CHARS:
        cut = max(text.rfind(mark, 0, _CHUNK_CHARS) for mark in "。！？\n ")
        cut = cut + 1 if cut > 0 else _CHUNK_CHARS
        yield text[:cut]
        text = text[cut:]
    if text:
        yield text


def _analyse_chunk(text: str, result: Analysis) -> None:
    reading_runs: list[str] = []
    run = ""
    previous = ""  # the noun just before, for a suffix to join
    for unit in _tokenizer().tokenize(text):
        pos = unit.part_of_speech()[0]
        term = _term(unit)
        # A long noun (mode C) also stands for its short units (mode A).
        levels = [unit]
        if term and pos == "名詞":
            parts = unit.split(_local.mode_a)
            if len(parts) > 1:
                levels.extend(parts)
        seen: set[str] = set()
        for part in levels:
            word = _term(part)
            if word and word not in seen:
                seen.add(word)
                result.words.append(word)
                result.synonyms.extend(g for g in _synonyms(part) if g not in seen)
                seen.update(_synonyms(part))
        if pos == "接尾辞" and previous:
            result.words.append(previous + unit.normalized_form())
        previous = term if pos == "名詞" else ""
        if pos in _NO_READING_POS:
            if run:
                reading_runs.append(run)
            run = ""
        else:
            run += fold_kana(unit.reading_form() or unit.surface())
    if run:
        reading_runs.append(run)
    for reading in reading_runs:
        result.readings.extend(_ngrams(reading.translate(_HIRAGANA), _READING_N))


def _ngrams(run: str, n: int) -> list[str]:
    if len(run) < n:
        return [run] if run else []
    return [run[i : i + n] for i in range(len(run) - n + 1)]


def ja_tokens(text: str) -> list[str]:
    """Content words of a Japanese text, normalised, with the compounds they form."""
    return analyse_ja(text).words


def stem(word: str) -> str:
    """A light English stemmer: plurals, -ing, -ed, -ly; enough for FAQ questions."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # stopped -> stop
            elif word.endswith(("at", "iz", "bl", "ov", "av", "iv", "rg", "dg")):
                word += "e"  # moved -> move, located -> locate
            return word
    if word.endswith("ly") and len(word) > 5:
        return word[:-2]
    return word


def en_tokens(text: str) -> list[str]:
    """Lower-cased, stemmed English words without stop words."""
    return [stem(w) for w in _EN_WORD.findall(normalize(text)) if w not in _EN_STOPWORDS]


def tokens(text: str, language: Language | None = None) -> list[str]:
    """Words of a text in its language (told by script when not given)."""
    return analyse(text, language).words


def char_ngrams(text: str, n: int = 2) -> list[str]:
    """Character n-grams of the normalised, kana-folded text, never across punctuation.

    They catch what a dictionary splits differently on each side (new words, place names, typos),
    at the price of noise; the engine weighs them as one piece of evidence among others.
    """
    grams: list[str] = []
    for run in _RUN.findall(normalize(text)):
        grams.extend(_ngrams(run.translate(_HIRAGANA), n))
    return grams


def analyse(text: str, language: Language | None = None) -> Analysis:
    """Words, synonym groups and reading n-grams of a text in its language (English: words)."""
    if (language or detect_language(text)) == "en":
        words = en_tokens(text)
        if _JA_CHARS.search(text):  # "residence record (住民票の写し)": the Japanese terms too
            japanese = analyse_ja(text)
            words += [w for w in japanese.words if _JA_CHARS.search(w)] + japanese.synonyms
        return Analysis(words=words)
    return analyse_ja(text)
