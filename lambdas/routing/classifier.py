"""Prompt task classifier: which kind of work a request is, from its text and attachments.

A multinomial logistic regression over word unigrams, word bigrams, cue-word lexicons and a
handful of shape features (code fences, operators, digits, leading question words). (Character
n-grams were tried and lowered cross-validated accuracy on this small training set.) The
weights are trained offline by `routing.classifier_training` from the labelled prompts in
`tests/data/` and ship beside this module as `classifier_weights.json`, so nothing is downloaded
at run time. Images attached to the request decide `vision` outright: the text model never
predicts it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from routing.catalog import Task

WEIGHTS_PATH = Path(__file__).with_name("classifier_weights.json")
TEXT_TASKS: tuple[Task, ...] = ("chat", "coding", "creative", "qa", "reasoning", "research")

# Long prompts are classified from their head and tail: the ask is almost always there, and this
# keeps the cost per request bounded whatever the caller pastes.
_MAX_CHARS = 2000
_TOKEN = re.compile(r"[a-z0-9_']+|[^\sa-z0-9_']")
_QUESTION_WORDS = frozenset(
    "what who when where which why how is are does do can could should would".split()
)
_CODE_MARKS = frozenset("{}();=<>[]_`#$%&|\\")

# Cue-word lexicons written from general knowledge of each kind of work (not from the labelled
# set): they let the model generalise to vocabulary its few hundred training prompts never saw.
_LEXICONS: dict[str, frozenset[str]] = {
    "code": frozenset(
        """python javascript typescript java kotlin swift rust golang go c++ c# csharp php ruby
        perl scala haskell elixir erlang clojure lua bash shell powershell sql postgres postgresql
        mysql sqlite mongodb redis html css react vue angular svelte django flask fastapi express
        node nodejs npm pip pytest jest junit git github gitlab docker dockerfile kubernetes k8s
        terraform ansible aws lambda api apis rest graphql json yaml xml csv regex regexp function
        functions method methods class classes struct interface enum variable variables loop loops
        array arrays list dict dictionary hashmap tuple string strings int integer boolean pointer
        pointers null none nil exception exceptions error traceback stacktrace bug bugs debug
        debugging compile compiler compiles runtime syntax refactor refactoring implement
        implementation algorithm recursion recursive iterate iterator generator decorator async
        await thread threads mutex deadlock concurrency segfault memory leak endpoint query
        queries schema migration index database repository repo commit branch merge rebase
        deploy deployment ci pipeline unittest tests testing mock script scripts code coding
        program programming library framework package module import lint linter typescript
        webpack vite cli terminal command linux unix vim emacs ide vscode stdout stdin binary
        hash heap stack queue tree graph bfs dfs sort sorting o(n) typeerror keyerror valueerror
        indentationerror nullpointerexception undefined""".split()
    ),
    "creative": frozenset(
        """poem poems poetry poetic haiku limerick sonnet villanelle ode elegy ballad verse verses
        rhyme rhyming rhymes lyrics song songs chorus jingle lullaby story stories tale tales
        fable fairy myth legend fiction fanfiction novel chapter scene scenes monologue dialogue
        script screenplay sketch character characters villain hero protagonist plot twist
        narrator narrative imagine imaginary invent whimsical fantasy dragon wizard magic
        magical sci-fi cyberpunk dystopian spooky horror ghost haunted romance romantic comedic
        humorous funny slogan tagline toast eulogy speech parody shanty rap creepypasta prose
        acrostic metaphor metaphors bedtime once upon""".split()
    ),
    "research": frozenset(
        """research researchers study studies literature review reviews evidence evidence-based
        meta-analysis meta-analyses systematic survey surveys findings synthesis synthesize
        synthesise summarise summarize overview analyse analyze analysis compare comparison
        comparative report reports sources citations cite citing references bibliography
        scholarship scholarly historians historiography economists debate consensus empirical
        longitudinal cohort cohorts trials randomised randomized data statistics trends policy
        policies implications impact impacts effects effectiveness efficacy outcomes
        investigate examine assess evaluate comprehensive in-depth thorough briefing white
        paper papers academic peer theories perspectives state-of-the-art""".split()
    ),
    "math": frozenset(
        """solve calculate compute prove proof probability odds percent percentage equation
        equations integral integrate derivative derive limit series converge converges diverges
        sum product remainder divisible prime primes factorial fraction ratio average mean
        median mode sequence puzzle riddle logic logical valid invalid argument premise
        premises conclude infer deduce paradox knights knaves weighings dice coin coins
        marbles triangle rectangle circle angle area volume perimeter matrix determinant
        eigenvalues algebra geometry arithmetic digits integer integers consecutive
        quadratic log logarithm minimum maximum how many ways step""".split()
    ),
    "personal": frozenset(
        """i i'm i've i'd me my mine myself we we're our feel feeling feelings felt sad happy
        lonely bored tired nervous anxious stressed excited proud grumpy upset miss love hate
        friend friends boyfriend girlfriend husband wife mom dad mum sister brother kid kids
        roommate boss coworker neighbour neighbor hi hello hey thanks thank bye goodbye lol haha
        ugh hmm ok okay yo sorry you you're your yourself weekend tonight today advice tips
        recommend""".split()
    ),
    "fact": frozenset(
        """who when where which capital year century invented discovered founded wrote painted
        composed population currency country city river mountain ocean planet element symbol
        stand define definition meaning called name largest smallest tallest longest oldest
        first president emperor king queen""".split()
    ),
}


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's answer: the task, its probability, and every label's probability.

    `text_task` is what the text alone suggests; it equals `task` unless images made it `vision`.
    """

    task: Task
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    text_task: Task = "chat"


def _clip(text: str) -> str:
    if len(text) <= _MAX_CHARS:
        return text
    half = _MAX_CHARS // 2
    return text[:half] + " " + text[-half:]


def extract_features(text: str) -> list[str]:
    """Feature strings for one prompt; shared by training and inference so they cannot drift."""
    raw = _clip(text)
    lowered = raw.lower()
    tokens = _TOKEN.findall(lowered)
    feats: list[str] = []
    words = [t for t in tokens if t[0].isalnum() or t[0] in "_'"]
    for tok in tokens:
        feats.append("w:" + tok)
    prev = "<s>"
    for tok in tokens:
        feats.append("b:" + prev + " " + tok)
        prev = tok
    # Shape features: cheap signals that survive vocabulary the training set never saw.
    if words and words[0] in _QUESTION_WORDS:
        feats.append("#qstart")
    if raw.rstrip().endswith("?"):
        feats.append("#qmark")
    if "```" in raw or "\n    " in raw:
        feats.append("#codeblock")
    marks = sum(1 for ch in raw if ch in _CODE_MARKS)
    if marks >= 3:
        feats.append("#codemarks")
    digits = sum(1 for ch in raw if ch.isdigit())
    if digits >= 2:
        feats.append("#digits")
    if re.search(r"\d\s*[-+*/^=]\s*\d|\b[xyn]\s*[=^+]", lowered):
        feats.append("#math")
    counts = {name: 0 for name in _LEXICONS}
    for w in words:
        for name, lexicon in _LEXICONS.items():
            if w in lexicon:
                counts[name] += 1
    for name, count in counts.items():
        if count:
            feats.append("#lex:" + name)
            if count >= 3:
                feats.append("#lex3:" + name)
        if words and words[0] in _LEXICONS[name]:
            feats.append("#first:" + name)
    n_words = len(words)
    feats.append(
        "#len:" + ("1" if n_words <= 3 else "2" if n_words <= 8 else "3" if n_words <= 20 else "4")
    )
    return feats


@dataclass(frozen=True, slots=True)
class _Model:
    labels: tuple[str, ...]
    bias: tuple[float, ...]
    weights: dict[str, tuple[float, ...]]


@lru_cache(maxsize=1)
def _load(path: str = str(WEIGHTS_PATH)) -> _Model:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return _Model(
        labels=tuple(data["labels"]),
        bias=tuple(data["bias"]),
        weights={k: tuple(v) for k, v in data["weights"].items()},
    )


def _softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


def text_scores(text: str) -> dict[str, float]:
    """Probability per text task (chat, coding, creative, qa, reasoning, research)."""
    model = _load()
    logits = list(model.bias)
    n = len(logits)
    weights = model.weights
    for feat in set(extract_features(text)):
        row = weights.get(feat)
        if row is not None:
            for i in range(n):
                logits[i] += row[i]
    probs = _softmax(logits)
    return {label: round(p, 4) for label, p in zip(model.labels, probs, strict=True)}


def classify(text: str, has_images: bool = False) -> Classification:
    """Classify a prompt; any attached image makes the task `vision` with confidence 1."""
    if not text.strip():
        scores = {t: 0.0 for t in TEXT_TASKS}
        if has_images:
            return Classification("vision", 1.0, {**scores, "vision": 1.0}, "chat")
        return Classification("chat", 0.0, {**scores, "chat": 0.0}, "chat")
    scores = text_scores(text)
    best = max(scores, key=lambda k: (scores[k], k))
    if has_images:
        return Classification("vision", 1.0, {**scores, "vision": 1.0}, best)  # type: ignore[arg-type]
    return Classification(best, scores[best], {**scores, "vision": 0.0}, best)  # type: ignore[arg-type]
