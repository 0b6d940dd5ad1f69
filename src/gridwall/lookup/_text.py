"""Character-level rules of Japanese address normalisation (住所正規化).

Everything here is a pure function on strings. Two forms are produced:

* :func:`clean` — what a person would accept as "the same text, tidied": NFKC (full/half width,
  NFKD input recomposed), every hyphen look-alike turned into ``-`` (but the katakana
  prolonged sound mark ``ー`` kept inside katakana words), whitespace collapsed.
* :func:`fold` — a matching key of the *same length* as its input (so positions map back):
  old kanji forms → new forms (旧字体 → 新字体), ヶ/ケ/が/ヵ/カ/ガ between kanji → ``ケ``,
  の/ノ/之 between kanji → ``ノ``.

Kanji numerals (漢数字) are read by :func:`kanji_to_int` and written by :func:`int_to_kanji`.
"""

from __future__ import annotations

import re
import unicodedata

#: Hyphen look-alikes seen in typed addresses (after NFKC, which already maps － ｰ ﹣ to - ー -).
#: U+2010 ‐ hyphen, U+2011 ‑ non-breaking hyphen, U+2012 ‒ figure dash, U+2013 – en dash,
#: U+2014 — em dash, U+2015 ― horizontal bar, U+2212 − minus sign, U+2043 ⁃ hyphen bullet,
#: U+FE58 ﹘ small em dash, U+2500 ─ / U+2501 ━ box drawings used as dashes, U+30FC ー (see below).
HYPHENS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\u2500\u2501\uff0d\ufe63\u02d7"

#: 旧字体・異体字 → 新字体 (one character to one character, so folding keeps positions).
#: Sources: 文化庁「常用漢字表」(平成22年内閣告示第2号) — the 康熙字典体 printed in brackets
#: beside each 常用漢字; 法務省「人名用漢字」別表第二 (異体字 pairs such as 髙/高, 﨑/崎);
#: and the variants that appear in the 国土交通省 位置参照情報 town names themselves
#: (e.g. 邉, 嶋, 槇). Written by hand for gridwall; extend with care: both sides of a pair
#: must denote the same place-name character.
OLD_TO_NEW: dict[str, str] = {
    "舊": "旧",
    "澤": "沢",
    "邊": "辺",
    "邉": "辺",
    "髙": "高",
    "﨑": "崎",
    "嵜": "崎",
    "碕": "崎",
    "濱": "浜",
    "龍": "竜",
    "廣": "広",
    "橫": "横",  # 常用漢字表 (平成22年) 横(橫)
    "國": "国",
    "圀": "国",
    "櫻": "桜",
    "齋": "斎",
    "齊": "斉",
    "驛": "駅",
    "團": "団",
    "會": "会",
    "學": "学",
    "實": "実",
    "寶": "宝",
    "當": "当",
    "縣": "県",
    "眞": "真",
    "惠": "恵",
    "榮": "栄",
    "德": "徳",
    "藏": "蔵",
    "萬": "万",
    "條": "条",
    "圓": "円",
    "兒": "児",
    "淺": "浅",
    "瀧": "滝",
    "嶋": "島",
    "嶌": "島",
    "峯": "峰",
    "桒": "桑",
    "冨": "富",
    "槇": "槙",
    "籠": "篭",
    "曾": "曽",
    "鐵": "鉄",
    "鹽": "塩",
    "靜": "静",
    "黑": "黒",
    "晝": "昼",
    "關": "関",
    "靈": "霊",
    "佛": "仏",
    "鷗": "鴎",
    "禮": "礼",
    "巖": "巌",
    "檜": "桧",
    "澁": "渋",
    "聲": "声",
    "臺": "台",
    "豐": "豊",
    "遲": "遅",
    "稻": "稲",
    "壽": "寿",
    "與": "与",
    "廳": "庁",
    "舍": "舎",
    "莊": "荘",
    "觀": "観",
    "藝": "芸",
    "樂": "楽",
    "發": "発",
    "繩": "縄",
    "營": "営",
    "驒": "騨",
    "鄕": "郷",
    "來": "来",
    "戶": "戸",
    "户": "戸",
    "增": "増",
    "淸": "清",
    "靑": "青",
    "綠": "緑",
    "黃": "黄",
    "溪": "渓",
    "谿": "渓",
    "嶽": "岳",
    "埜": "野",
    "壹": "壱",
    "淵": "渕",
    "凜": "凛",
    "蘆": "芦",
    "假": "仮",
    "龜": "亀",
    "壺": "壷",
    "邨": "村",
    "險": "険",
    "驗": "験",
    "嶮": "険",
    "兩": "両",
    "亞": "亜",
    "惡": "悪",
    "壓": "圧",
    "圍": "囲",
    "爲": "為",
    "醫": "医",
    "衞": "衛",
    "價": "価",
    "畫": "画",
    "擴": "拡",
    "勸": "勧",
    "卷": "巻",
    "歡": "歓",
    "氣": "気",
    "僞": "偽",
    "峽": "峡",
    "狹": "狭",
    "曉": "暁",
    "區": "区",
    "徑": "径",
    "莖": "茎",
    "經": "経",
    "繼": "継",
    "輕": "軽",
    "劍": "剣",
    "獻": "献",
    "權": "権",
    "顯": "顕",
    "嚴": "厳",
    "恆": "恒",
    "濟": "済",
    "碎": "砕",
    "劑": "剤",
    "雜": "雑",
    "參": "参",
    "棧": "桟",
    "蠶": "蚕",
    "贊": "賛",
    "殘": "残",
    "絲": "糸",
    "辭": "辞",
    "濕": "湿",
    "收": "収",
    "從": "従",
    "獸": "獣",
    "縱": "縦",
    "肅": "粛",
    "處": "処",
    "敍": "叙",
    "奬": "奨",
    "將": "将",
    "燒": "焼",
    "稱": "称",
    "證": "証",
    "乘": "乗",
    "剩": "剰",
    "壤": "壌",
    "孃": "嬢",
    "淨": "浄",
    "疊": "畳",
    "讓": "譲",
    "釀": "醸",
    "觸": "触",
    "寢": "寝",
    "愼": "慎",
    "晉": "晋",
    "盡": "尽",
    "圖": "図",
    "粹": "粋",
    "醉": "酔",
    "隨": "随",
    "髓": "髄",
    "數": "数",
    "樞": "枢",
    "竊": "窃",
    "專": "専",
    "戰": "戦",
    "踐": "践",
    "錢": "銭",
    "潛": "潜",
    "纖": "繊",
    "禪": "禅",
    "雙": "双",
    "壯": "壮",
    "爭": "争",
    "搜": "捜",
    "插": "挿",
    "巢": "巣",
    "裝": "装",
    "總": "総",
    "騷": "騒",
    "屬": "属",
    "續": "続",
    "墮": "堕",
    "體": "体",
    "對": "対",
    "帶": "帯",
    "滯": "滞",
    "擇": "択",
    "擔": "担",
    "單": "単",
    "膽": "胆",
    "斷": "断",
    "癡": "痴",
    "蟲": "虫",
    "鑄": "鋳",
    "聽": "聴",
    "鎭": "鎮",
    "遞": "逓",
    "轉": "転",
    "點": "点",
    "傳": "伝",
    "黨": "党",
    "盜": "盗",
    "燈": "灯",
    "鬪": "闘",
    "獨": "独",
    "讀": "読",
    "屆": "届",
    "貳": "弐",
    "惱": "悩",
    "腦": "脳",
    "廢": "廃",
    "拜": "拝",
    "賣": "売",
    "麥": "麦",
    "髮": "髪",
    "拔": "抜",
    "蠻": "蛮",
    "祕": "秘",
    "甁": "瓶",
    "拂": "払",
    "竝": "並",
    "變": "変",
    "辨": "弁",
    "瓣": "弁",
    "辯": "弁",
    "舖": "舗",
    "沒": "没",
    "滿": "満",
    "默": "黙",
    "譯": "訳",
    "藥": "薬",
    "譽": "誉",
    "搖": "揺",
    "樣": "様",
    "謠": "謡",
    "賴": "頼",
    "亂": "乱",
    "覽": "覧",
    "獵": "猟",
    "壘": "塁",
    "勵": "励",
    "隸": "隷",
    "齡": "齢",
    "戀": "恋",
    "爐": "炉",
    "勞": "労",
    "樓": "楼",
    "祿": "禄",
    "錄": "録",
    "灣": "湾",
}
# Sanity: every mapping is one code point to one code point (positions must survive folding).
assert all(len(k) == 1 and len(v) == 1 for k, v in OLD_TO_NEW.items())

_TRANS = str.maketrans({**OLD_TO_NEW, **{h: "-" for h in HYPHENS}})

_KANJI = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆"
_KATAKANA = "\u30a1-\u30fa\u30fd-\u30ff\u31f0-\u31ff"
_HIRAGANA = "\u3041-\u309f"

#: ヶ/ケ/が/ヵ/カ/ガ before a kanji, after a kanji or kana, are one place-name particle
#: (霞ヶ関 = 霞が関 = 霞ケ関; つつじが丘 = つつじヶ丘, ユーカリが丘 = ユーカリヶ丘). Applied to
#: both sides of every comparison, so over-folding inside a katakana word only merges keys.
_GA_RE = re.compile(rf"(?<=[{_KANJI}{_HIRAGANA}{_KATAKANA}])[ヶケがヵカガ](?=[{_KANJI}])")
#: の/ノ/之 between two kanji are one particle in names (丸の内 = 丸ノ内, 一之船入町 = 一ノ船入町).
_NO_RE = re.compile(rf"(?<=[{_KANJI}])[のノ之乃](?=[{_KANJI}])")
#: ー after something that is not kana (a digit or kanji numeral, a kanji, a letter) is a dash;
#: after katakana/hiragana it is the prolonged sound mark (長音符) of a word such as ビル・センター.
_DASH_CHOUON_RE = re.compile(rf"(?<![{_KATAKANA}{_HIRAGANA}])(?<![{_KATAKANA}{_HIRAGANA}] )ー")
_SPACES_RE = re.compile(r"\s+")


def clean(text: str) -> str:
    """NFKC, hyphen look-alikes → ``-``, dash-like ``ー`` → ``-``, whitespace collapsed.

    Old kanji are *not* replaced here (display text keeps what was typed); see :func:`fold`.
    """
    s = unicodedata.normalize("NFKC", text)
    s = s.translate(_HYPHEN_ONLY)
    s = _SPACES_RE.sub(" ", s)
    s = _DASH_CHOUON_RE.sub("-", s)  # 「インタ ー」 keeps its ー: a space may split a word
    return s.strip()


_HYPHEN_ONLY = str.maketrans({h: "-" for h in HYPHENS})


def fold(text: str) -> str:
    """Matching key of a :func:`clean` string; same length as ``text``."""
    s = text.translate(_TRANS)
    s = _GA_RE.sub("ケ", s)
    return _NO_RE.sub("ノ", s)


def fold_key(text: str) -> str:
    """:func:`clean` then :func:`fold`, with all spaces removed (for names in indexes)."""
    return fold(clean(text)).replace(" ", "")


# --- 漢数字 -------------------------------------------------------------------------------

_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "壱": 1,
    "二": 2,
    "弐": 2,
    "三": 3,
    "参": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000}
#: characters of a kanji numeral as it appears in a 番地 (including the legal 壱弐参拾)
KANJI_NUM_CHARS = "〇零一壱二弐三参四五六七八九十拾百千万"
#: the plain ones, as used inside town names (二十四軒, 三本木)
NAME_NUM_CHARS = "〇一二三四五六七八九十百千"
KANJI_NUM_RE = re.compile(f"[{KANJI_NUM_CHARS}]+")
_NAME_NUM_RE = re.compile(f"[{NAME_NUM_CHARS}]+")


def kanji_to_int(s: str) -> int | None:
    """Read a kanji numeral: positional (二十三 = 23, 千二百 = 1200, 十 = 10) or digit-wise
    (二〇三 = 203, 一二 = 12). Returns None for anything that is not a well-formed numeral."""
    if not s or any(c not in _DIGITS and c not in _UNITS and c != "万" for c in s):
        return None
    if not any(c in _UNITS or c == "万" for c in s):
        return int("".join(str(_DIGITS[c]) for c in s))
    total = 0
    section = 0  # below 万
    digit: int | None = None
    last_unit = 10**9
    for c in s:
        if c in _DIGITS:
            if digit is not None:
                return None  # 二三十: malformed
            digit = _DIGITS[c]
        elif c in _UNITS:
            u = _UNITS[c]
            if u >= last_unit:
                return None  # 十百: malformed
            section += (1 if digit is None else digit) * u
            digit = None
            last_unit = u
        else:  # 万
            section += digit or 0
            total += (section or 1) * 10000
            section, digit, last_unit = 0, None, 10**9
    section += digit or 0
    return total + section


def int_to_kanji(n: int) -> str:
    """Write ``n`` (0 ≤ n < 10000) positionally, as in 町名 and 丁目 (二十三, 百一)."""
    if n == 0:
        return "〇"
    names = "〇一二三四五六七八九"
    out = []
    for unit, ch in ((1000, "千"), (100, "百"), (10, "十")):
        d, n = divmod(n, unit)
        if d:
            out.append(("" if d == 1 else names[d]) + ch)
    if n:
        out.append(names[n])
    return "".join(out)


def name_numerals_to_digits(key: str) -> tuple[str, list[int]]:
    """Replace kanji numeral runs inside a *name key* by arabic digits (二十四軒 → 24軒),
    so 南1条西 and 南一条西 meet. Returns the new key and, for each output character, the
    index of the input character it came from (for mapping a match length back)."""
    out: list[str] = []
    src: list[int] = []
    pos = 0
    for m in _NAME_NUM_RE.finditer(key):
        for i in range(pos, m.start()):
            out.append(key[i])
            src.append(i)
        v = kanji_to_int(m.group())
        digits = str(v) if v is not None else m.group()
        for d in digits:
            out.append(d)
            src.append(m.start())
        pos = m.end()
    for i in range(pos, len(key)):
        out.append(key[i])
        src.append(i)
    return "".join(out), src


def name_key(name: str) -> str:
    """Index key of a town/koaza name: folded, spaces removed, numerals as digits."""
    k = fold_key(name)
    if not _NAME_NUM_RE.search(k):
        return k
    return name_numerals_to_digits(k)[0]


def is_kanji(c: str) -> bool:
    return bool(re.match(f"[{_KANJI}]", c))
