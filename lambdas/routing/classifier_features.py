# ruff: noqa: RUF001, RUF002 -- full-width forms and math signs are the point here
"""Feature strings for the prompt classifier, in any script; shared by training and inference.

A prompt becomes a bag of short strings:

* words (`w:`), word bigrams (`b:`) and 5-letter word prefixes (`p:`, a cheap stemmer for
  inflected languages) for scripts written with spaces;
* character unigrams (`h:`) and bigrams (`h2:`) for Chinese and Japanese, and character bigrams
  inside each word (`k:`) for Korean, whose particles glue onto words;
* cue-lexicon hits in every language (`#lex:code`, `#lex3:research`, `#first:creative`), see
  `classifier_lexicons`;
* script and language signals (`#s:kana`, `#lang:fr`);
* shape: code fences, operators, identifiers that only code has, digits, arithmetic, question form,
  length.

Earlier turns of a conversation add `x`-prefixed cue and code features (and `xs` ones when the
last turn is short), so "and in Rust?" or "make it longer" lean on what came before while an
explicit new ask in the last turn still decides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from routing.classifier_lexicons import (
    CUE_NAMES,
    LANGUAGE_WORDS,
    PREFIX_CUES,
    PREFIX_LENGTHS,
    QUESTION_WORDS,
    SUBSTRING_CUES,
    WORD_CUES,
)

# Long prompts are classified from their head and tail: the ask is almost always there, and this
# keeps the cost per request bounded whatever the caller pastes.
MAX_CHARS = 2000
MAX_CONTEXT_CHARS = 600
_HAN_KANA = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
# One group per kind of token, read with findall (C speed): CJK run, Hangul word, other word,
# any other single non-space character.
_TOKEN = re.compile(rf"([{_HAN_KANA}]+)|([{_HANGUL}]+)|((?:[^\W{_HAN_KANA}{_HANGUL}]|')+)|(\S)")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")
_HAN_CHAR = re.compile(f"[{_HAN_KANA}]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# Cue names per word (whole-word and prefix hits), memoised: vocabulary repeats across requests
# far more than it grows, and the memo is bounded.
_WORD_MEMO: dict[str, tuple[str, ...]] = {}
_WORD_MEMO_MAX = 50_000
_CODE_MARK = re.compile(r"[{}();=<>\[\]_`#$%&|\\]")
_DIGIT = re.compile(r"\d")
# Things prose almost never contains: camelCase, snake_case, calls, arrows, error class names.
_CODEY = re.compile(
    r"[a-z][A-Z]|[a-z]_[a-z]|\w\.\w+\(|=>|->|::|\+\+|!=|==|Error\b|Exception\b|"
    r"\b(?:def|func|fn|var|const|let|print|printf|println|return|import)\b"
)
_MATH = re.compile(r"\d\s*[-+*/^=×÷]\s*\d|\b[xyn]\s*[=^+]|\d+\s*%|[√∫π²³]")
_FENCE_OR_INDENT = ("```", "\n    ", "\n\t")


def clip(text: str, limit: int = MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + " " + text[-half:]


def normalise(text: str) -> str:
    """NFKC folds full-width forms (`？`, `ｐｙｔｈｏｎ`) into the ones the weights know."""
    return unicodedata.normalize("NFKC", text)


def _word_cues(word: str) -> tuple[str, ...]:
    hit = _WORD_MEMO.get(word)
    if hit is not None:
        return hit
    names = list(WORD_CUES.get(word, ()))
    for k in PREFIX_LENGTHS:
        if len(word) <= k:
            break
        names += PREFIX_CUES.get(word[:k], ())
    found = tuple(names)
    if len(_WORD_MEMO) >= _WORD_MEMO_MAX:
        _WORD_MEMO.clear()
    _WORD_MEMO[word] = found
    return found


def _cue_counts(words: list[str], cjk_text: str) -> dict[str, int]:
    counts = dict.fromkeys(CUE_NAMES, 0)
    for w in words:
        for name in _word_cues(w):
            counts[name] += 1
    if cjk_text:
        for name, cues in SUBSTRING_CUES.items():
            counts[name] += sum(1 for cue in cues if cue in cjk_text)
    return counts


def _code_shape(raw: str) -> list[str]:
    feats = []
    if any(mark in raw for mark in _FENCE_OR_INDENT):
        feats.append("#codeblock")
    if len(_CODE_MARK.findall(raw)) >= 3:
        feats.append("#codemarks")
    codey = len(_CODEY.findall(raw))
    if codey:
        feats.append("#codey")
        if codey >= 3:
            feats.append("#codey3")
    return feats


def detect_language(text: str) -> str:
    """Best guess among en, es, fr, de, pt, it, ru, zh, ja, ko ("und" when nothing votes)."""
    lowered = normalise(clip(text)).lower()
    return _language(lowered, [t[2] or t[1] for t in _TOKEN.findall(lowered) if t[2] or t[1]])


def _language(lowered: str, tokens: list[str], cjk: bool = True) -> str:
    if cjk:
        if _KANA.search(lowered):
            return "ja"
        if _HANGUL_CHAR.search(lowered):
            return "ko"
        if _HAN_CHAR.search(lowered):
            return "zh"
    if _CYRILLIC.search(lowered):
        return "ru"
    votes: dict[str, int] = {}
    for tok in tokens:
        lang = LANGUAGE_WORDS.get(tok)
        if lang:
            votes[lang] = votes.get(lang, 0) + 1
    if not votes:
        return "und"
    return max(sorted(votes), key=lambda k: votes[k])


def _units(words: int, cjk_chars: int) -> int:
    # Two CJK characters carry roughly what one spaced word does.
    return words + cjk_chars // 2


def extract_features(text: str, context: Sequence[str] = ()) -> list[str]:
    """Feature strings for one prompt (the last turn) and, optionally, its earlier turns."""
    raw = normalise(clip(text))
    lowered = raw.lower()
    feats: list[str] = []
    words: list[str] = []
    stream: list[str] = []
    cjk_parts: list[str] = []
    cjk_chars = 0
    for cjk, hangul, word, other in _TOKEN.findall(lowered):
        if cjk:
            cjk_parts.append(cjk)
            cjk_chars += len(cjk)
            feats += ["h:" + ch for ch in cjk]
            feats += ["h2:" + a + b for a, b in zip("^" + cjk, cjk + "$", strict=True)]
            stream.append("<cjk>")
        elif hangul:
            cjk_parts.append(hangul)
            cjk_chars += len(hangul)
            feats.append("w:" + hangul)
            feats += ["k:" + hangul[i : i + 2] for i in range(len(hangul) - 1)]
            words.append(hangul)
            stream.append(hangul)
        elif word:
            feats.append("w:" + word)
            words.append(word)
            if len(word) > 6 and word.isalpha():
                feats.append("p:" + word[:5])
                feats.append("s:" + word[-3:])
            stream.append(word)
        else:
            feats.append("w:" + other)
            stream.append(other)
    feats += ["b:" + a + " " + b for a, b in zip(["<s>", *stream], stream, strict=False)]
    language = _language(lowered, words, bool(cjk_parts))
    feats.append("#lang:" + language)
    if language == "ja":
        feats.append("#s:kana")
    if words and words[0] in QUESTION_WORDS:
        feats.append("#qstart")
    if raw.rstrip().endswith("?"):
        feats.append("#qmark")
    feats += _code_shape(raw)
    if len(_DIGIT.findall(raw)) >= 2:
        feats.append("#digits")
    if _MATH.search(lowered):
        feats.append("#math")
    counts = _cue_counts(words, " ".join(cjk_parts))
    first = words[0] if words else ""
    for name, count in counts.items():
        if count:
            feats.append("#lex:" + name)
            if count >= 3:
                feats.append("#lex3:" + name)
        if first and name in WORD_CUES.get(first, ()):
            feats.append("#first:" + name)
    units = _units(len(words), cjk_chars)
    feats.append(
        "#len:" + ("1" if units <= 3 else "2" if units <= 8 else "3" if units <= 20 else "4")
    )
    if context:
        feats += _context_features(context, short=units <= 10)
    return feats


def _context_features(context: Sequence[str], short: bool) -> list[str]:
    raw = normalise(clip("\n".join(context[-3:]), MAX_CONTEXT_CHARS))
    lowered = raw.lower()
    words: list[str] = []
    cjk: list[str] = []
    for cjk_run, hangul, word, _ in _TOKEN.findall(lowered):
        if cjk_run:
            cjk.append(cjk_run)
        elif hangul:
            words.append(hangul)
            cjk.append(hangul)
        elif word:
            words.append(word)
    signals = [name for name, count in _cue_counts(words, " ".join(cjk)).items() if count]
    if _code_shape(raw):
        signals.append("code-shape")
    feats = ["x#" + s for s in signals]
    if short:
        feats += ["xs#" + s for s in signals]
    return feats
