"""Tokenisation: the spellings residents type meet the spelling of the FAQ."""

from __future__ import annotations

import threading

import pytest

from machi.guide import text


@pytest.mark.parametrize("variant", ["引越し", "引っ越し", "引越", "引越す", "引っ越す"])
def test_okurigana_variants_of_moving_are_one_word(variant: str) -> None:
    assert "引っ越し" in text.tokens(f"{variant}の手続き") or "引っ越す" in text.tokens(variant)


def test_moving_nouns_share_the_normalized_form() -> None:
    forms = {tuple(text.tokens(v)) for v in ["引越し", "引っ越し", "引越"]}
    assert forms == {("引っ越し",)}


@pytest.mark.parametrize(
    ("a", "b"), [("申込", "申し込み"), ("申込み", "申し込み"), ("子ども", "こども")]
)
def test_spelling_variants_are_one_word(a: str, b: str) -> None:
    assert text.tokens(a) == text.tokens(b)


def test_resident_record_and_its_copy_share_the_compound() -> None:
    plain = text.tokens("住民票")
    copy = text.tokens("住民票の写しを取りたい")
    assert plain == ["住民票", "住民", "票"]
    assert set(plain) <= set(copy)
    assert "写し" in copy


def test_a_noun_and_its_suffix_make_a_compound() -> None:
    assert "避難所" in text.tokens("指定避難所はどこ")
    assert "避難所" not in text.tokens("避難場所はどこ")


def test_synonym_groups_of_the_dictionary() -> None:
    assert set(text.analyse("国保").synonyms) & set(text.analyse("国民健康保険").synonyms)
    assert set(text.analyse("学童").synonyms) & set(text.analyse("放課後児童クラブ").synonyms)
    assert set(text.analyse("保育園").synonyms) & set(text.analyse("保育所").synonyms)
    assert not set(text.analyse("保育園").synonyms) & set(text.analyse("ごみ").synonyms)


def test_readings_meet_kana_and_homophone_spellings() -> None:
    right = set(text.analyse("住民票").readings)
    assert right == set(text.analyse("じゅうみんひょう").readings)
    assert right == set(text.analyse("住民表").readings)
    kana = set(text.analyse("はざーどまっぷ").readings)
    assert len(kana & set(text.analyse("ハザードマップ").readings)) >= 4


def test_full_width_and_half_width_read_alike() -> None:
    assert text.tokens("ＰＣで申請") == text.tokens("PCで申請") == ["pc", "申請"]
    assert text.tokens("ｶｰﾄﾞ") == text.tokens("カード")
    assert text.tokens("１４日以内") == text.tokens("14日以内")


def test_katakana_and_hiragana_read_alike() -> None:
    assert text.tokens("粗大ゴミ") == text.tokens("粗大ごみ")


def test_final_long_vowel_mark_is_optional() -> None:
    assert text.tokens("コンピュータ") == text.tokens("コンピューター")
    assert text.tokens("プリンタ") == text.tokens("プリンター")


def test_the_words_every_question_is_made_of_are_dropped() -> None:
    assert text.tokens("教えてください") == []
    assert text.tokens("について知りたいのですが") == []
    assert "払う" in text.tokens("払いたいのですが、どうすればいいですか？")


def test_language_by_script() -> None:
    assert text.detect_language("住民票の写し") == "ja"
    assert text.detect_language("マイナンバー card の更新") == "ja"
    assert text.detect_language("PayPayで払える？") == "ja"
    assert text.detect_language("How do I get a resident certificate?") == "en"
    assert text.detect_language("How do I get a residence record (住民票の写し)?") == "en"
    assert text.detect_language("Ｈｅｌｌｏ") == "en"
    assert text.detect_language("123") == "ja"


def test_english_keeps_the_japanese_terms_it_quotes() -> None:
    words = text.tokens("a copy of the residence record (住民票の写し)", "en")
    assert {"copy", "residence", "record", "住民票"} <= set(words)


def test_a_text_longer_than_sudachi_accepts_is_read_in_pieces() -> None:
    words = text.tokens("住民票の写しを取りたい。" * 6000)
    assert words.count("住民票") == 6000


def test_english_words_are_stemmed_without_stop_words() -> None:
    assert text.tokens("Where are the evacuation shelters located?") == [
        "evacuation",
        "shelter",
        "locate",
    ]
    assert text.tokens("moving certificates", "en") == ["move", "certificate"]
    assert text.stem("families") == "family"
    assert text.stem("stopped") == "stop"


def test_character_bigrams_stop_at_punctuation() -> None:
    assert text.char_ngrams("ゴミ、収集") == ["ごみ", "収集"]
    assert text.char_ngrams("住民票") == ["住民", "民票"]


def test_normalize() -> None:
    assert text.normalize("  ＡＢＣ　ｶｰﾄﾞ ") == "abc カード"
    assert text.normalize("ワ－ク") == "ワーク"


def test_tokenizers_are_safe_across_threads() -> None:
    expected = text.tokens("国民健康保険料を払いたい")
    results: list[list[str]] = []

    def work() -> None:
        for _ in range(20):
            results.append(text.tokens("国民健康保険料を払いたい"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 80
    assert all(result == expected for result in results)
