"""The guide's FAQ search with 2,000 entries: build time and query latency.

Builds an index (machi.guide.engine) of ``--entries`` synthetic but realistic FAQ entries (2,000),
made by recombining this file's own phrases: 50 city-hall subjects (住民票の写し, 児童手当, 粗大ごみ
…) times 40 aspects (申請方法, 手数料, 必要なもの, 代理人, 郵送, オンライン …), each with an
answer of two to five sentences naming the department, fees and deadlines. No outside data.

Then it answers ``--queries`` (1,000) residents' questions, phrased differently from the entries
(aliases such as 住民票 for 住民票の写し, colloquial endings, full-width digits, katakana for
hiragana), one at a time, and reports build seconds and latency p50/p95/p99, the share of queries
whose intended entry came first (a sanity check, not a quality figure: the queries are generated
from the same templates), and the index's size on disk and load time. Targets (issue 9): build
≤ 60 s, p95 ≤ 50 ms. Prints a summary, then one line of JSON last.

    .venv/bin/python bench/guide.py
    .venv/bin/python bench/guide.py --long          # longer answers: more passages to embed
    .venv/bin/python bench/guide.py --entries 4000 --queries 2000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from machi.guide.engine import Doc, Index  # noqa: E402

TARGET_BUILD_S = 60.0
TARGET_P95_MS = 50.0

# (subject, aliases residents use, department, fee)
SUBJECTS = [
    ("住民票の写し", ["住民票", "住民票のコピー", "じゅうみんひょう"], "市民課", "300円"),
    ("印鑑登録証明書", ["印鑑証明", "ハンコの証明"], "市民課", "300円"),
    ("戸籍謄本", ["戸籍", "戸籍の証明"], "市民課", "450円"),
    ("転入届", ["引っ越してきた届け", "転入の手続き"], "市民課", "無料"),
    ("転出届", ["引越しの届出", "市外への引っ越し"], "市民課", "無料"),
    ("転居届", ["市内の引越", "住所変更"], "市民課", "無料"),
    ("婚姻届", ["結婚の届け", "入籍"], "市民課", "無料"),
    ("出生届", ["子どもが生まれた届け", "赤ちゃんの届出"], "市民課", "無料"),
    ("死亡届", ["家族が亡くなった届け", "死亡の手続き"], "市民課", "無料"),
    ("マイナンバーカード", ["マイナカード", "個人番号カード"], "市民課", "無料"),
    ("国民健康保険の加入", ["国保に入る", "国民健康保険に入りたい"], "保険年金課", "無料"),
    ("国民健康保険料", ["国保の保険料", "国民健康保険の税金"], "保険年金課", "所得に応じた額"),
    ("国民年金の免除", ["年金の免除", "年金保険料の猶予"], "保険年金課", "無料"),
    ("後期高齢者医療", ["75歳からの保険", "後期高齢者の保険"], "保険年金課", "所得に応じた額"),
    ("児童手当", ["子ども手当", "こども手当"], "子育て支援課", "無料"),
    ("児童扶養手当", ["ひとり親の手当", "母子家庭の手当"], "子育て支援課", "無料"),
    ("保育所の入所", ["保育園に入る", "保育園の申込み"], "保育課", "所得に応じた保育料"),
    ("放課後児童クラブ", ["学童保育", "学童"], "子育て支援課", "月額5,000円"),
    ("子ども医療費助成", ["子どもの医療費", "乳幼児医療"], "子育て支援課", "無料"),
    ("妊娠届", ["母子手帳", "母子健康手帳"], "健康推進課", "無料"),
    ("定期予防接種", ["予防接種", "ワクチン"], "健康推進課", "無料"),
    ("特定健診", ["健康診断", "健診"], "健康推進課", "無料"),
    ("がん検診", ["がんの検査", "がん健診"], "健康推進課", "500円から"),
    ("要介護認定", ["介護認定", "介護保険の申請"], "高齢介護課", "無料"),
    ("介護保険料", ["介護の保険料", "介護保険の支払い"], "高齢介護課", "所得に応じた額"),
    ("障害者手帳", ["身体障害者手帳", "障がい者手帳"], "障害福祉課", "無料"),
    ("生活保護", ["生活の相談", "生活に困ったとき"], "生活支援課", "無料"),
    ("燃やすごみ", ["燃えるゴミ", "可燃ごみ"], "環境課", "指定袋の代金"),
    ("粗大ごみ", ["大きなゴミ", "大型ごみ"], "環境課", "1点400円から"),
    ("資源ごみ", ["リサイクルごみ", "ペットボトルと缶"], "環境課", "無料"),
    ("犬の登録", ["飼い犬の届出", "犬を飼う手続き"], "環境課", "3,000円"),
    ("市県民税", ["住民税", "市民税"], "税務課", "所得に応じた額"),
    ("固定資産税", ["土地や家の税金", "固定資産の税"], "税務課", "評価額に応じた額"),
    ("軽自動車税", ["原付の税金", "バイクの税金"], "税務課", "車種に応じた額"),
    ("所得証明書", ["課税証明", "収入の証明"], "税務課", "300円"),
    ("市営住宅", ["公営住宅", "市の住宅"], "住宅課", "所得に応じた家賃"),
    ("水道の使用開始", ["水道を使い始める", "水道の開栓"], "水道局", "無料"),
    ("水道料金", ["水道代", "水の料金"], "水道局", "使用量に応じた額"),
    ("下水道の工事", ["下水の工事", "排水設備"], "下水道課", "工事費"),
    ("道路の補修", ["道路の穴", "道の陥没"], "道路課", "無料"),
    ("街路灯", ["街灯", "道の電灯"], "道路課", "無料"),
    ("公園の利用", ["公園を使う", "公園の貸し出し"], "公園課", "1時間500円"),
    ("公民館の予約", ["公民館を借りる", "集会所の予約"], "生涯学習課", "1時間300円"),
    ("図書館の利用カード", ["図書館カード", "本を借りるカード"], "図書館", "無料"),
    ("避難所", ["避難場所", "逃げる場所"], "危機管理課", "無料"),
    ("罹災証明書", ["り災証明", "災害の証明書"], "危機管理課", "無料"),
    ("防災行政無線", ["防災無線", "外のスピーカーの放送"], "危機管理課", "無料"),
    ("ハザードマップ", ["防災マップ", "浸水の地図"], "危機管理課", "無料"),
    ("選挙の期日前投票", ["期日前投票", "選挙の前の投票"], "選挙管理委員会", "無料"),
    ("市役所の駐車場", ["役所の駐車場", "市役所に車"], "管財課", "2時間無料"),
]

# (question, answer sentences, residents' phrasings); {s} is the subject, {d} the department,
# {f} the fee, {n} a number of days.
ASPECTS = [
    (
        "{s}の申請方法を教えてください。",
        [
            "{s}は{d}の窓口で申請できます。",
            "申請書は窓口に置いてあるほか、市のホームページからダウンロードできます。",
        ],
        ["{a}の申し込み方", "{a}ってどうやって申請するの"],
    ),
    (
        "{s}の手数料はいくらですか。",
        ["{s}の手数料は{f}です。", "現金のほか、キャッシュレス決済も利用できます。"],
        ["{a}はいくらかかる", "{a}の料金"],
    ),
    (
        "{s}の手続きに必要なものは？",
        [
            "{s}の手続きには本人確認書類が必要です。",
            "マイナンバーカードや運転免許証をお持ちください。",
        ],
        ["{a}に持っていくもの", "{a}で何がいる？"],
    ),
    (
        "{s}を代理人が手続きできますか。",
        [
            "代理人が{s}の手続きをする場合は委任状が必要です。",
            "代理人の本人確認書類もお持ちください。",
        ],
        ["家族が代わりに{a}", "{a}を代理でしたい"],
    ),
    (
        "{s}を郵送で手続きできますか。",
        ["{s}は郵送でも受け付けています。", "必要書類と返信用封筒を{d}あてに送ってください。"],
        ["{a}を郵便で", "{a}は郵送でできる？"],
    ),
    (
        "{s}をオンラインで申請できますか。",
        ["{s}はマイナポータルから電子申請できます。", "マイナンバーカードと暗証番号が必要です。"],
        ["{a}をネットで申し込みたい", "{a} スマホで申請"],
    ),
    (
        "{s}の受付時間は？",
        [
            "{d}の受付時間は平日の午前8時30分から午後5時15分までです。",
            "第2・第4土曜日の午前中も受け付けています。",
        ],
        ["{a}は何時まで", "{a}を土曜日に"],
    ),
    (
        "{s}の手続きの期限はありますか。",
        [
            "{s}の手続きは{n}日以内に行ってください。",
            "期限を過ぎると手続きが遅れることがあります。",
        ],
        ["{a}はいつまでに", "{a}の締め切り"],
    ),
    (
        "{s}の担当窓口はどこですか。",
        ["{s}の担当は市役所本庁舎2階の{d}です。", "支所では取り扱っていない場合があります。"],
        ["{a}の窓口", "{a}はどこに行けばいい"],
    ),
    (
        "{s}を支所で手続きできますか。",
        ["{s}は各支所でも手続きできます。", "一部の手続きは本庁舎の{d}のみで受け付けます。"],
        ["{a}は支所でも", "近くの出張所で{a}"],
    ),
    (
        "{s}をコンビニで取得できますか。",
        [
            "マイナンバーカードがあれば{s}をコンビニで取得できます。",
            "利用時間は午前6時30分から午後11時までです。",
        ],
        ["{a}をコンビニで", "コンビニ交付の{a}"],
    ),
    (
        "{s}の手続きにかかる日数は？",
        [
            "{s}の手続きには通常{n}日ほどかかります。",
            "混雑する時期はさらに時間がかかることがあります。",
        ],
        ["{a}は何日かかる", "{a}はすぐできる？"],
    ),
    (
        "{s}の内容を変更したい。",
        [
            "{s}の内容に変更がある場合は、{d}に変更の届出をしてください。",
            "変更を証明する書類をお持ちください。",
        ],
        ["{a}を変えたい", "{a}の変更届"],
    ),
    (
        "{s}をやめたいときは？",
        ["{s}をやめる場合は、{d}に廃止の届出をしてください。", "届出は{n}日以内にお願いします。"],
        ["{a}を廃止", "{a}の取り消し"],
    ),
    (
        "{s}について外国人住民の手続きは？",
        [
            "外国人住民の方も{s}の手続きができます。",
            "在留カードをお持ちください。通訳の用意もあります。",
        ],
        ["外国人の{a}", "在留カードで{a}"],
    ),
    (
        "{s}の申請書はどこで手に入りますか。",
        ["{s}の申請書は{d}の窓口と各支所にあります。", "市のホームページからも印刷できます。"],
        ["{a}の用紙", "{a}の様式をダウンロード"],
    ),
    (
        "{s}に所得制限はありますか。",
        ["{s}には所得の条件があります。", "前年の所得をもとに{d}で判定します。"],
        ["{a}の収入の条件", "収入が多いと{a}は"],
    ),
    (
        "{s}の対象者は？",
        ["{s}の対象は市内に住所がある方です。", "詳しい条件は{d}にお問い合わせください。"],
        ["{a}は誰が対象", "{a}を受けられる人"],
    ),
    (
        "{s}の支払い方法を知りたい。",
        [
            "{s}は納付書で金融機関やコンビニで支払えます。",
            "口座振替やスマートフォン決済も利用できます。",
        ],
        ["{a}の払い方", "{a}を口座引き落としに"],
    ),
    (
        "{s}を払えないときは？",
        ["{s}の支払いが難しいときは{d}にご相談ください。", "分割納付や減免の制度があります。"],
        ["{a}が払えない", "{a}を分割したい"],
    ),
    (
        "{s}の証明書をなくしました。",
        ["{s}の証明書をなくした場合は再発行できます。", "{d}で再交付の申請をしてください。"],
        ["{a}を紛失", "{a}の再発行"],
    ),
    (
        "{s}の通知が届かない。",
        ["{s}の通知は毎年{n}月ごろに郵送しています。", "届かない場合は{d}へご連絡ください。"],
        ["{a}のお知らせが来ない", "{a}の郵便が届いていない"],
    ),
    (
        "{s}について電話で問い合わせたい。",
        ["{s}のお問い合わせは{d}までお電話ください。", "平日の日中に受け付けています。"],
        ["{a}の電話番号", "{a}の問い合わせ先"],
    ),
    (
        "引っ越したときの{s}の手続きは？",
        [
            "市内で引っ越した場合、{s}の住所変更は転居届と同時にできます。",
            "市外へ転出する場合は{d}で手続きしてください。",
        ],
        ["引越しで{a}はどうなる", "転居したら{a}"],
    ),
    (
        "{s}の制度が変わったと聞きました。",
        [
            "{s}の制度は今年度から一部が変わりました。",
            "変更点は市のホームページでお知らせしています。",
        ],
        ["{a}の新しい制度", "{a}の変更点"],
    ),
    (
        "{s}を休日に手続きできますか。",
        ["{s}の休日窓口は毎月第4日曜日に開設しています。", "予約が必要です。"],
        ["日曜日に{a}", "休みの日に{a}"],
    ),
    (
        "{s}の予約はできますか。",
        [
            "{s}の窓口は予約制ではありませんが、オンラインで来庁予約ができます。",
            "予約すると待ち時間が短くなります。",
        ],
        ["{a}を予約", "{a}の待ち時間"],
    ),
    (
        "{s}の相談窓口はありますか。",
        ["{s}についての相談は{d}で受け付けています。", "専門の相談員が対応します。"],
        ["{a}について相談したい", "{a}で困っている"],
    ),
    (
        "{s}の書き方がわかりません。",
        [
            "{s}の記入例を窓口とホームページに用意しています。",
            "わからない箇所は{d}の職員がお手伝いします。",
        ],
        ["{a}の記入方法", "{a}の書き方"],
    ),
    (
        "{s}の結果はいつわかりますか。",
        ["{s}の結果は申請から約{n}日で郵送でお知らせします。", "急ぐ場合はご相談ください。"],
        ["{a}の結果", "{a}はいつ決まる"],
    ),
    (
        "高齢者の{s}の手続きは？",
        [
            "高齢の方の{s}の手続きは、ご家族が代わりに行うこともできます。",
            "地域包括支援センターでも相談できます。",
        ],
        ["お年寄りの{a}", "親の{a}"],
    ),
    (
        "{s}の手続きは本人でないとだめですか。",
        ["{s}の手続きは同じ世帯の方もできます。", "それ以外の方は委任状をお持ちください。"],
        ["本人以外が{a}", "{a}は家族でもいい？"],
    ),
    (
        "{s}に英語の案内はありますか。",
        ["{s}の英語の案内を{d}で配布しています。", "やさしい日本語の案内もあります。"],
        ["{a}の英語版", "{a}の外国語"],
    ),
    (
        "{s}について障がいのある方への配慮は？",
        ["障がいのある方は{s}の手続きで配慮を受けられます。", "筆談や手話通訳をご用意します。"],
        ["障害がある人の{a}", "{a}の手話通訳"],
    ),
    (
        "{s}の控えをもらえますか。",
        ["{s}の控えは手続きの際にお渡しします。", "なくした場合は{d}で写しを交付します。"],
        ["{a}の控え", "{a}のコピーがほしい"],
    ),
    (
        "{s}の手続きを急ぎたい。",
        ["{s}を急ぐ場合は窓口で申し出てください。", "即日対応できる場合があります。"],
        ["{a}を今日中に", "{a}を早くしたい"],
    ),
    (
        "{s}は市外に住んでいても使えますか。",
        [
            "{s}は原則として市内にお住まいの方が対象です。",
            "市外の方は住所地の市区町村にお問い合わせください。",
        ],
        ["市外の人の{a}", "{a}は他の市からでも"],
    ),
    (
        "{s}の年度の切り替えについて",
        ["{s}は毎年{n}月に更新します。", "更新の案内は{d}から送ります。"],
        ["{a}の更新", "{a}の切り替え時期"],
    ),
    (
        "災害のときの{s}の扱いは？",
        ["災害で被害を受けた方は{s}の手続きで特例があります。", "罹災証明書をお持ちください。"],
        ["災害で{a}", "被災したら{a}はどうなる"],
    ),
    (
        "{s}の手続きでマイナンバーは必要ですか。",
        [
            "{s}の手続きではマイナンバーの記入が必要です。",
            "通知カードやマイナンバーカードをお持ちください。",
        ],
        ["{a}に個人番号はいる", "{a}でマイナンバー"],
    ),
]

ENDINGS = ["", "。", "ですか", "？", "を知りたい", "について教えてください", "のですが"]


def make_entries(
    count: int, rng: random.Random, *, long: bool = False
) -> tuple[list[Doc], list[tuple[str, str]]]:
    """``count`` entries (subject x aspect, then numbered variants) and their query phrasings."""
    docs: list[Doc] = []
    phrasings: list[tuple[str, str]] = []
    pairs = [(s, a) for a in ASPECTS for s in SUBJECTS]
    for i in range(count):
        (subject, aliases, department, fee), (question, answer, asks) = pairs[i % len(pairs)]
        round_ = i // len(pairs)
        fill = {"s": subject, "d": department, "f": fee, "n": str(rng.choice([3, 7, 14, 30]))}
        sentences = [a.format(**fill) for a in answer]
        extra = rng.sample(EXTRA_SENTENCES, len(EXTRA_SENTENCES) if long else rng.randint(0, 3))
        doc = Doc(
            id=f"faq-{i:05d}",
            question=question.format(**fill) + (f"（その{round_ + 1}）" if round_ else ""),
            answer="".join(sentences + [e.format(**fill) for e in extra]),
            disaster=subject in {"避難所", "罹災証明書", "防災行政無線", "ハザードマップ"},
            category=department,
        )
        docs.append(doc)
        for ask in asks:
            phrasings.append((doc.id, ask.format(a=rng.choice([subject, *aliases]))))
    return docs, phrasings


EXTRA_SENTENCES = [
    "詳しくは{d}までお問い合わせください。",
    "受付は本庁舎のほか、各支所でも行っています。",
    "年末年始は窓口を閉じています。",
    "混雑する月曜日と3月・4月はお時間に余裕をもってお越しください。",
    "駐車場は2時間まで無料です。",
    "内容は予告なく変更することがあります。",
    "電子申請の場合は24時間受け付けています。",
]

WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def make_queries(
    phrasings: list[tuple[str, str]], count: int, rng: random.Random
) -> list[tuple[str, str]]:
    """``count`` queries: a phrasing with a random ending, now and then full-width or katakana."""
    queries = []
    for _ in range(count):
        doc_id, text = rng.choice(phrasings)
        text += rng.choice(ENDINGS)
        roll = rng.random()
        if roll < 0.1:
            text = text.translate(WIDTH)
        elif roll < 0.2:
            text = text.replace("ごみ", "ゴミ").replace("こども", "子供")
        queries.append((doc_id, text))
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--long",
        action="store_true",
        help="every answer with all the filler sentences (~190 characters, 3 texts to embed)",
    )
    options = parser.parse_args()
    rng = random.Random(options.seed)

    docs, phrasings = make_entries(options.entries, rng, long=options.long)
    queries = make_queries(phrasings, options.queries, rng)
    print(f"{len(docs)} entries, {len(queries)} queries; {os.cpu_count()} CPUs", flush=True)

    started = time.perf_counter()
    index = Index.build(docs)
    build_seconds = time.perf_counter() - started
    embedded = len(index.question_vectors) + len(index.passage_vectors)
    answer_chars = sum(len(d.answer) for d in docs) / len(docs)
    print(
        f"build: {build_seconds:.1f} s ({embedded} texts embedded; answers of "
        f"{answer_chars:.0f} characters on average)",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "guide.npz"
        index.save(path)
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        index = Index.load(path)
        load_seconds = time.perf_counter() - started
    print(f"saved: {size_mb:.1f} MB, loaded in {load_seconds:.2f} s", flush=True)

    for _, text in queries[:20]:  # warm-up: first-call costs of numpy and the tokenizers
        index.search(text)
    latencies = []
    first = 0
    for doc_id, text in queries:
        started = time.perf_counter()
        hits = index.search(text, k=5)
        latencies.append((time.perf_counter() - started) * 1000)
        first += bool(hits) and hits[0].id == doc_id
    p50, p95, p99 = (float(x) for x in np.percentile(latencies, [50, 95, 99]))
    print(f"latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms")
    print(f"intended entry first: {first / len(queries):.1%} (templated queries: a sanity check)")
    ok = build_seconds <= TARGET_BUILD_S and p95 <= TARGET_P95_MS
    print(f"targets (build ≤ {TARGET_BUILD_S:.0f} s, p95 ≤ {TARGET_P95_MS:.0f} ms): "
          f"{'met' if ok else 'NOT met'}")  # fmt: skip
    print(
        json.dumps(
            {
                "bench": "guide",
                "entries": len(docs),
                "queries": len(queries),
                "build_s": round(build_seconds, 2),
                "texts_embedded": embedded,
                "load_s": round(load_seconds, 3),
                "index_mb": round(size_mb, 1),
                "p50_ms": round(p50, 2),
                "p95_ms": round(p95, 2),
                "p99_ms": round(p99, 2),
                "top1_sanity": round(first / len(queries), 3),
                "targets_met": ok,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
