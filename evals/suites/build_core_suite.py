"""Build the `core` eval suite and the simulator's scripted answers for it, deterministically.

    python evals/suites/build_core_suite.py            # rewrites core.jsonl and core.answers.jsonl here
    python evals/suites/build_core_suite.py --out DIR  # writes them elsewhere (the tests compare bytes)

Every item has a true, checkable answer: arithmetic computed here, facts that are true (capitals, chemical
symbols, a few constants), JSON the answer must equal or satisfy, multiple-choice letters, and formats a
regular expression checks. The answers file maps each item's prompt (the last user message, stripped) to a
correct answer phrased the way a model would say it, so `modelgate vllm-sim --answers core.answers.jsonl
--wrong-rate 0` scores 100% and a positive wrong-rate lowers the score by about that rate.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

SEED = 20240501
SYSTEM = "You are a precise assistant. Answer exactly as asked, with no extra words."

CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Germany", "Berlin"), ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Norway", "Oslo"), ("Portugal", "Lisbon"),
    ("Greece", "Athens"), ("Poland", "Warsaw"), ("Ireland", "Dublin"), ("Argentina", "Buenos Aires"),
    ("Thailand", "Bangkok"), ("Austria", "Vienna"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
    ("Hungary", "Budapest"), ("Chile", "Santiago"), ("Cuba", "Havana"), ("Vietnam", "Hanoi"),
    ("Denmark", "Copenhagen"),
]  # fmt: skip
SYMBOLS = [
    ("gold", "Au"), ("silver", "Ag"), ("iron", "Fe"), ("sodium", "Na"), ("potassium", "K"), ("lead", "Pb"),
    ("copper", "Cu"), ("tin", "Sn"), ("mercury", "Hg"), ("tungsten", "W"), ("helium", "He"), ("oxygen", "O"),
]  # fmt: skip
# (question, number, answer sentence)
CONSTANTS = [
    ("How many days are there in a leap year?", 366, "A leap year has 366 days."),
    (
        "At sea level, at what temperature in degrees Celsius does pure water boil?",
        100,
        "It boils at 100 °C.",
    ),
    ("How many sides does a hexagon have?", 6, "A hexagon has 6 sides."),
    ("How many minutes are there in a day?", 1440, "There are 1,440 minutes in a day."),
    ("How many planets are in the Solar System?", 8, "There are 8 planets."),
    ("How many bits are in a byte?", 8, "A byte has 8 bits."),
    ("What is the square root of 144?", 12, "The square root of 144 is 12."),
    ("How many degrees are in a right angle?", 90, "A right angle is 90 degrees."),
]
# (question, expected substring, answer)
NAMED = [
    ("Who wrote the novel 'Pride and Prejudice'?", "Austen", "Jane Austen wrote it."),
    ("Which planet is the largest in the Solar System?", "Jupiter", "Jupiter is the largest planet."),
    ("Which planet is closest to the Sun?", "Mercury", "Mercury is closest to the Sun."),
    (
        "What gas do plants absorb from the air for photosynthesis?",
        "carbon dioxide",
        "Plants absorb carbon dioxide.",
    ),
    ("Which ocean is the largest by area?", "Pacific", "The Pacific Ocean."),
    ("Who developed the theory of general relativity?", "Einstein", "Albert Einstein."),
]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]  # fmt: skip
COLOURS = [
    ("red", "#FF0000"),
    ("green", "#00FF00"),
    ("blue", "#0000FF"),
    ("white", "#FFFFFF"),
    ("black", "#000000"),
]
WORDS = [
    "quick",
    "brown",
    "fox",
    "data",
    "model",
    "gate",
    "silver",
    "river",
    "north",
    "cloud",
    "stone",
    "light",
]


def _arithmetic(rng: random.Random) -> list[tuple[dict[str, Any], str]]:
    out = []
    for i in range(40):
        op = ["+", "-", "*"][i % 3]
        a, b = rng.randint(11, 999), rng.randint(2, 99 if op == "*" else 999)
        value = a + b if op == "+" else a - b if op == "-" else a * b
        prompt = f"What is {a} {op} {b}? Reply with the number only."
        answer = str(value) if i % 4 else f"{a} {op} {b} = {value}"
        out.append(
            (
                {"input": prompt, "expected": value, "scorer": {"type": "numeric"}, "tags": ["arithmetic"]},
                answer,
            )
        )
    return out


def _facts() -> list[tuple[dict[str, Any], str]]:
    out: list[tuple[dict[str, Any], str]] = []
    for country, city in CAPITALS[:20]:
        user = f"What is the capital of {country}? Reply with the city name only."
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        scorer = {"type": "exact", "ignore_punctuation": True}
        out.append(
            (
                {"input": messages, "expected": city, "scorer": scorer, "tags": ["facts", "capital"]},
                f"{city}.",
            )
        )
    for element, symbol in SYMBOLS:
        prompt = f"What is the chemical symbol for {element}? Reply with the symbol only."
        scorer = {"type": "exact", "ignore_case": False}
        out.append(
            ({"input": prompt, "expected": symbol, "scorer": scorer, "tags": ["facts", "chemistry"]}, symbol)
        )
    for question, number, answer in CONSTANTS:
        out.append(
            (
                {"input": question, "expected": number, "scorer": {"type": "numeric"}, "tags": ["facts"]},
                answer,
            )
        )
    for question, needle, answer in NAMED:
        out.append(({"input": question, "expected": needle, "scorer": "contains", "tags": ["facts"]}, answer))
    return out


def _json_items(rng: random.Random) -> list[tuple[dict[str, Any], str]]:
    out: list[tuple[dict[str, Any], str]] = []
    names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis"]
    for i, name in enumerate(names):
        age = rng.randint(20, 90)
        prompt = f'Return a JSON object with keys "name" and "age" for {name}, aged {age}. JSON only.'
        obj = {"name": name, "age": age}
        answer = json.dumps(obj) if i % 2 else "```json\n" + json.dumps(obj, indent=2) + "\n```"
        out.append(({"input": prompt, "expected": obj, "scorer": "json_match", "tags": ["json"]}, answer))
    for n in range(3, 8):
        primes = [p for p in range(2, 60) if all(p % d for d in range(2, p))][:n]
        prompt = f"Return the first {n} prime numbers as a JSON array of integers. JSON only."
        out.append(
            (
                {"input": prompt, "expected": primes, "scorer": "json_match", "tags": ["json"]},
                json.dumps(primes),
            )
        )
    for country, city in CAPITALS[20:]:
        prompt = (
            f'Return a JSON object with string keys "country" and "capital" for {country}, '
            'and a boolean key "is_capital" set to true. JSON only.'
        )
        schema = {
            "type": "object",
            "required": ["country", "capital", "is_capital"],
            "additionalProperties": False,
            "properties": {
                "country": {"const": country},
                "capital": {"const": city},
                "is_capital": {"type": "boolean", "const": True},
            },
        }
        answer = json.dumps({"country": country, "capital": city, "is_capital": True})
        out.append(
            (
                {"input": prompt, "expected": schema, "scorer": "json_schema", "tags": ["json", "schema"]},
                answer,
            )
        )
    return out


def _choices(rng: random.Random) -> list[tuple[dict[str, Any], str]]:
    out = []
    letters = ["A", "B", "C", "D"]
    for i, (country, city) in enumerate(CAPITALS):
        others = [c for _, c in CAPITALS if c != city]
        options = [city, *rng.sample(others, 3)]
        rng.shuffle(options)
        listing = " ".join(f"{letter}) {option}" for letter, option in zip(letters, options, strict=True))
        prompt = f"Which city is the capital of {country}? {listing}. Answer with the letter only."
        letter = letters[options.index(city)]
        answer = letter if i % 3 else f"The answer is {letter}."
        out.append(({"input": prompt, "expected": letter, "scorer": "choice", "tags": ["choice"]}, answer))
    return out


def _formats(rng: random.Random) -> list[tuple[dict[str, Any], str]]:
    out: list[tuple[dict[str, Any], str]] = []
    for _ in range(10):
        year, month, day = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        prompt = f"Write the date {day} {MONTHS[month - 1]} {year} in ISO 8601 form (YYYY-MM-DD). Date only."
        iso = f"{year:04d}-{month:02d}-{day:02d}"
        scorer = {"type": "regex", "fullmatch": True}
        out.append(({"input": prompt, "expected": iso, "scorer": scorer, "tags": ["format", "date"]}, iso))
    for name, code in COLOURS:
        prompt = f"Give the hex colour code of pure {name} in #RRGGBB form. Code only."
        scorer = {"type": "regex", "fullmatch": True, "ignore_case": True}
        out.append(
            (
                {"input": prompt, "expected": code, "scorer": scorer, "tags": ["format", "colour"]},
                code.lower(),
            )
        )
    for _ in range(10):
        words = rng.sample(WORDS, 3)
        title = " ".join(w.capitalize() for w in words)
        slug = "-".join(words)
        prompt = f"Turn the title '{title}' into a lowercase URL slug joined by hyphens. Slug only."
        # The slug's letters and hyphens are literal in a pattern: the format and the content are checked.
        scorer = {"type": "regex", "fullmatch": True}
        out.append(({"input": prompt, "expected": slug, "scorer": scorer, "tags": ["format", "slug"]}, slug))
    return out


def build() -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The suite lines (header first) and the answers lines, in a fixed order."""
    rng = random.Random(SEED)
    groups = [
        ("arith", _arithmetic(rng)),
        ("fact", _facts()),
        ("json", _json_items(rng)),
        ("choice", _choices(rng)),
        ("format", _formats(rng)),
    ]
    header = {
        "suite": "core",
        "description": "Arithmetic, true facts, JSON output, multiple choice and checkable formats.",
        "params": {"temperature": 0, "max_tokens": 128},
    }
    items: list[dict[str, Any]] = [header]
    answers: list[dict[str, str]] = []
    for prefix, group in groups:
        for n, (item, answer) in enumerate(group, start=1):
            items.append({"id": f"{prefix}-{n:03d}", **item})
            prompt = item["input"] if isinstance(item["input"], str) else item["input"][-1]["content"]
            answers.append({"prompt": prompt.strip(), "answer": answer})
    return items, answers


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    args = parser.parse_args(argv)
    items, answers = build()
    args.out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(args.out / "core.jsonl", items)
    _write_jsonl(args.out / "core.answers.jsonl", answers)
    print(f"wrote {len(items) - 1} items to {args.out / 'core.jsonl'} and their answers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
