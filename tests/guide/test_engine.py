"""The FAQ search: a resident's own words find the entry that answers them.

One small city FAQ (written for these tests), indexed once per module; the sentence encoder is
loaded once per test session by the engine's own cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from machi.guide import engine
from machi.guide.engine import Doc, Hit, Index

FAQ: list[Doc] = [
    Doc("move-in", "引っ越してきたときの手続きを教えてください。",
        "市外から引っ越してきた場合は、住み始めてから14日以内に市民課の窓口で転入届を出して"
        "ください。前の住所地の転出証明書と本人確認書類をお持ちください。", category="届出"),
    Doc("move-out", "市外へ引っ越すときの手続きは？",
        "市外へ転出する場合は、引っ越す前に市民課で転出届を出してください。マイナンバーカードを"
        "お持ちの方は、マイナポータルからオンラインで転出届を出すこともできます。"),
    Doc("juminhyo", "住民票の写しはどこで取れますか。",
        "住民票の写しは、市民課窓口、各支所、マイナンバーカードを利用したコンビニ交付で取得"
        "できます。手数料は1通300円です。"),
    Doc("juminhyo-post", "住民票の写しを郵送で請求できますか。",
        "郵送で請求できます。請求書、本人確認書類のコピー、定額小為替、切手を貼った返信用封筒を"
        "市民課あてに送ってください。"),
    Doc("seal", "印鑑登録をしたい。",
        "印鑑登録は、登録する本人が登録したい印鑑と本人確認書類を持って市民課窓口に来てください。"),
    Doc("mynumber-lost", "マイナンバーカードを紛失しました。どうすればよいですか。",
        "まずマイナンバー総合フリーダイヤルに連絡して一時利用停止をしてください。その後、警察に"
        "遺失届を出し、市民課で再交付の申請をしてください。"),
    Doc("birth", "子どもが生まれたときの手続きは？",
        "出生届は生まれた日を含めて14日以内に届け出てください。出生証明書、母子健康手帳を"
        "お持ちください。あわせて児童手当の申請もしてください。"),
    Doc("nhi-join", "国民健康保険に加入するには？",
        "会社を退職して健康保険をやめた場合などは、14日以内に保険年金課で国民健康保険の加入"
        "手続きをしてください。健康保険の資格喪失証明書が必要です。"),
    Doc("nhi-pay", "国民健康保険料の支払い方法",
        "国民健康保険料は、納付書による金融機関やコンビニでの支払い、口座振替、スマートフォン"
        "決済で納めることができます。"),
    Doc("child-allowance", "児童手当はいつ支給されますか。",
        "児童手当は、偶数月にそれぞれ前月分までの2か月分を指定の口座に振り込みます。"),
    Doc("nursery", "保育園に入るための申し込み方法",
        "保育所の入所申し込みは、保育課の窓口または電子申請で受け付けます。4月入所の一次募集は"
        "前年の11月に行います。"),
    Doc("garbage-sort", "ごみの分別方法がわからない。",
        "ごみは燃やすごみ、燃やさないごみ、資源ごみ、粗大ごみに分けて出してください。詳しくは"
        "ごみ分別アプリをご覧ください。"),
    Doc("bulky", "粗大ごみの出し方",
        "粗大ごみは事前に粗大ごみ受付センターへ電話またはインターネットで申し込み、処理券を購入"
        "して貼り、指定日に出してください。"),
    Doc("dog", "犬を飼い始めたら何をすればいいですか。",
        "生後91日以上の犬を飼い始めたら、30日以内に環境課で犬の登録をしてください。毎年1回の"
        "狂犬病予防注射も必要です。"),
    Doc("hours", "市役所の開庁時間は？",
        "市役所の開庁時間は平日の午前8時30分から午後5時15分までです。土日祝日と年末年始は閉庁"
        "しています。"),
    Doc("shelter", "避難所はどこですか。",
        "指定避難所は小中学校の体育館や公民館です。お住まいの地域の避難所は防災マップで確認して"
        "ください。", disaster=True),
    Doc("evacuate-when", "大雨のときに避難するタイミングは？",
        "警戒レベル3の高齢者等避難で高齢者や障がいのある方は避難を始めてください。警戒レベル4の"
        "避難指示で危険な場所にいる全員が避難してください。", disaster=True),
    Doc("risai", "罹災証明書の申請方法",
        "災害で住家が被害を受けた場合は、罹災証明書を申請できます。被害の写真を撮ってから、"
        "危機管理課の窓口または電子申請で申請してください。", disaster=True),
    Doc("water", "災害時に給水を受けられる場所は？",
        "断水した場合は、応急給水拠点（小中学校や浄水場）で給水を行います。ポリタンクなどの容器を"
        "お持ちください。", disaster=True),
    Doc("water-bill", "水道料金の支払い方法を知りたい。",
        "水道料金は口座振替、納付書による金融機関やコンビニでの支払いができます。"),
    Doc("en-move", "How do I register my move to the city?",
        "Submit a moving-in notification at the Citizens Division within 14 days of moving.",
        language="en"),
    Doc("en-juminhyo", "Where can I get a copy of my resident record?",
        "Copies of the resident record are issued at the Citizens Division, branch offices, or "
        "convenience stores with a My Number Card. The fee is 300 yen.", language="en"),
    Doc("en-shelter", "Where is my evacuation shelter?",
        "Designated shelters are school gymnasiums and community centers. Check the hazard map.",
        language="en", disaster=True),
]  # fmt: skip


@pytest.fixture(scope="module")
def index() -> Index:
    return Index.build(FAQ)


def top(index: Index, query: str, **options: object) -> str:
    hits = index.search(query, k=3, **options)  # type: ignore[arg-type]
    return hits[0].id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("引越しの手続き", "move-in"),
        ("転入届を出したい", "move-in"),
        ("住民票がほしい", "juminhyo"),
        ("遠くに住んでいるので住民票を郵送で取り寄せたい", "juminhyo-post"),
        ("マイナンバーカードをなくした", "mynumber-lost"),
        ("赤ちゃんが生まれた", "birth"),
        ("会社を辞めたので国保に入りたい", "nhi-join"),
        ("国民健康保険料を口座振替で払いたい", "nhi-pay"),
        ("児童手当の振込日", "child-allowance"),
        ("ゴミの分け方", "garbage-sort"),
        ("ソファなど大きなごみを捨てたい", "bulky"),
        ("子犬を飼いはじめました", "dog"),
        ("市役所は何時まで開いていますか", "hours"),
        ("家の近くの避難所を知りたい", "shelter"),
        ("家が浸水したので罹災証明がほしい", "risai"),
        ("断水で水がでない", "water"),
    ],
)
def test_a_resident_s_own_words_find_the_entry(index: Index, query: str, expected: str) -> None:
    assert top(index, query) == expected


def test_full_width_and_half_width_queries_find_the_same_entry(index: Index) -> None:
    assert top(index, "ｼﾞｭｳﾐﾝﾋｮｳ 住民票 ｺﾝﾋﾞﾆ") == top(index, "住民票 コンビニ") == "juminhyo"


def test_results_are_ranked_with_scores_and_confidence(index: Index) -> None:
    hits = index.search("粗大ごみの出し方", k=5)

    assert len(hits) == 5
    assert all(isinstance(hit, Hit) for hit in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)
    assert hits[0].confidence >= max(h.confidence for h in hits[1:])


def test_a_clear_question_is_more_confident_than_an_off_topic_one(index: Index) -> None:
    clear = index.search("粗大ごみの出し方を教えてください", k=1)[0]
    off_topic = index.search("宇宙人との交信方法", k=1)[0]

    assert clear.confidence > 0.5
    assert off_topic.confidence < clear.confidence


def test_english_questions_are_answered_from_english_entries(index: Index) -> None:
    hits = index.search("I want a copy of my resident record", k=3)

    assert hits[0].id == "en-juminhyo"
    assert {h.id for h in hits} <= {"en-move", "en-juminhyo", "en-shelter"}


def test_the_language_can_be_forced(index: Index) -> None:
    assert top(index, "My Number カード", language="en") in {"en-juminhyo", "en-move"}


def test_english_falls_back_to_japanese_entries_when_there_are_none() -> None:
    japanese_only = Index.build([d for d in FAQ if d.language == "ja"][:6])
    hits = japanese_only.search("resident record", k=3)
    assert len(hits) == 3
    assert all(h.id in {d.id for d in FAQ[:6]} for h in hits)


def test_disaster_mode_lifts_disaster_entries(index: Index) -> None:
    query = "水が出ないときはどうすればいいですか"
    normal = [h.id for h in index.search(query, k=5)]
    disaster = [h.id for h in index.search(query, k=5, disaster_mode=True)]

    assert normal[0] != "water"
    assert disaster[0] == "water"
    for entry in {d.id for d in FAQ if d.disaster} & set(normal):
        assert disaster.index(entry) <= normal.index(entry)


def test_explain_shows_each_signal(index: Index) -> None:
    rows = index.explain("住民票の写し", k=2)

    assert rows[0]["id"] == "juminhyo"
    assert {"question_words", "answer_meaning", "score"} <= set(rows[0])


def test_a_pasted_page_is_cut_to_a_question(index: Index) -> None:
    hits = index.search("粗大ごみの出し方。" + "あ" * 50_000, k=1)
    assert hits[0].id == "bulky"


def test_empty_index_and_empty_query() -> None:
    assert Index.build([]).search("住民票") == []
    assert Index.build(FAQ[:2]).search("   ") == []


def test_k_larger_than_the_index() -> None:
    small = Index.build(FAQ[:3])
    assert len(small.search("住民票", k=10)) == 3


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Index.build([FAQ[0], FAQ[0]])


def test_save_and_load_round_trip(index: Index, tmp_path: Path) -> None:
    path = tmp_path / "guide.npz"
    index.save(path)
    loaded = Index.load(path)

    assert loaded.docs == index.docs
    assert loaded.fingerprint == index.fingerprint
    for query in ["引越しの手続き", "Where is my evacuation shelter?", "断水"]:
        assert [h.id for h in loaded.search(query)] == [h.id for h in index.search(query)]
        assert [h.score for h in loaded.search(query)] == pytest.approx(
            [h.score for h in index.search(query)], abs=0.01
        )


def test_save_writes_no_pickle(index: Index, tmp_path: Path) -> None:
    path = tmp_path / "guide.npz"
    index.save(path)
    with np.load(path, allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_load_refuses_an_index_of_another_engine_version(
    index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "guide.npz"
    index.save(path)
    monkeypatch.setattr(engine, "ENGINE_VERSION", engine.ENGINE_VERSION + 1)
    with pytest.raises(ValueError, match="rebuild"):
        Index.load(path)


def test_load_refuses_a_file_that_is_not_an_index(tmp_path: Path) -> None:
    path = tmp_path / "guide.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a guide index"):
        Index.load(path)
    np.savez(path, other=np.zeros(3))
    with pytest.raises(ValueError, match="not a guide index"):
        Index.load(path)


def test_fingerprint_follows_the_entries(index: Index) -> None:
    assert engine.fingerprint(FAQ) == index.fingerprint
    changed = [*FAQ[:-1], Doc(FAQ[-1].id, FAQ[-1].question, "changed", language="en")]
    assert engine.fingerprint(changed) != index.fingerprint


def test_passages_split_long_answers_at_sentences() -> None:
    answer = "。".join(f"{i}番目の文はここにあります" for i in range(40)) + "。"
    parts = engine.passages(answer)

    assert 1 < len(parts) <= 4
    assert all(p.endswith("。") for p in parts)
    assert engine.passages("") == []
