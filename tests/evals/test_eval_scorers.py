"""The deterministic scorers and the scorer-spec checks a suite goes through when it loads."""

import pytest

from evals.scorers import (
    Outcome,
    ScorerSpec,
    apply,
    check_expected,
    choice,
    contains,
    exact_match,
    json_match,
    json_schema,
    json_valid,
    numeric,
    parse_scorer_spec,
    regex_match,
)


def passed(score) -> bool:
    assert score.outcome in (Outcome.PASS, Outcome.FAIL)
    assert score.value == (1.0 if score.outcome is Outcome.PASS else 0.0)
    return score.outcome is Outcome.PASS


class TestExact:
    def test_default_ignores_case_and_surrounding_whitespace(self):
        assert passed(exact_match("  PARIS\n", "paris"))

    def test_collapses_inner_whitespace(self):
        assert passed(exact_match("Buenos   Aires", "buenos aires"))
        assert not passed(exact_match("Buenos   Aires", "buenos aires", normalize_whitespace=False))

    def test_case_sensitive_when_asked(self):
        assert not passed(exact_match("au", "Au", ignore_case=False))
        assert passed(exact_match("Au", "Au", ignore_case=False))

    def test_punctuation_only_ignored_when_asked(self):
        assert not passed(exact_match("Paris.", "Paris"))
        assert passed(exact_match("Paris.", "Paris", ignore_punctuation=True))
        assert passed(exact_match("“Paris!”", "paris", ignore_punctuation=True))

    def test_any_of_a_list(self):
        assert passed(exact_match("NYC", ["New York", "NYC"]))
        assert not passed(exact_match("LA", ["New York", "NYC"]))

    def test_failure_detail_shows_what_came_back(self):
        assert "london" in exact_match("London", "Paris").detail


class TestContains:
    def test_all_needles_by_default(self):
        assert passed(contains("Jane Austen wrote it", ["jane", "austen"]))
        assert not passed(contains("Austen wrote it", ["jane", "austen"]))

    def test_any(self):
        assert passed(contains("Austen wrote it", ["jane", "austen"], require="any"))

    def test_case(self):
        assert not passed(contains("austen", "Austen", ignore_case=False))
        assert "missing" in contains("x", "Austen").detail


class TestRegex:
    def test_search_by_default(self):
        assert passed(regex_match("Date: 2024-03-05.", r"\d{4}-\d{2}-\d{2}"))

    def test_fullmatch_strips_and_anchors(self):
        assert passed(regex_match(" 2024-03-05\n", r"\d{4}-\d{2}-\d{2}", fullmatch=True))
        assert not passed(regex_match("Date: 2024-03-05", r"\d{4}-\d{2}-\d{2}", fullmatch=True))

    def test_ignore_case(self):
        assert not passed(regex_match("#ff0000", "#FF0000", fullmatch=True))
        assert passed(regex_match("#ff0000", "#FF0000", fullmatch=True, ignore_case=True))


class TestJson:
    def test_valid_and_invalid(self):
        assert passed(json_valid('{"a": [1, 2]}'))
        assert not passed(json_valid("{'a': 1}"))
        assert "not JSON" in json_valid("I don't know.").detail

    def test_code_fences_are_stripped_unless_disabled(self):
        fenced = '```json\n{"a": 1}\n```'
        assert passed(json_valid(fenced))
        assert not passed(json_valid(fenced, strip_fences=False))

    def test_match_ignores_key_order_and_spacing(self):
        assert passed(json_match('{"age": 36,  "name": "Ada"}', {"name": "Ada", "age": 36}))
        assert not passed(json_match('{"age": 37, "name": "Ada"}', {"name": "Ada", "age": 36}))
        assert passed(json_match("[2, 3, 5]", [2, 3, 5]))

    def test_schema(self):
        schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
        assert passed(json_schema('{"city": "Oslo"}', schema))
        result = json_schema('{"town": "Oslo"}', schema)
        assert not passed(result)
        assert "city" in result.detail
        assert not passed(json_schema("not json", schema))


class TestNumeric:
    def test_takes_the_last_number_by_default(self):
        assert passed(numeric("17 + 25 = 42", 42))
        assert not passed(numeric("42 is not 17 + 25", 42))

    def test_first_and_only(self):
        assert passed(numeric("42 is the answer, not 41", 42, extract="first"))
        assert not passed(numeric("42 is the answer, not 41", 42, extract="only"))
        assert passed(numeric("The answer is 42.", 42, extract="only"))

    def test_thousands_separators_and_signs_and_exponents(self):
        assert passed(numeric("There are 1,440 minutes.", 1440))
        assert passed(numeric("It is -92.", -92))
        assert passed(numeric("about 1.5e3", 1500))

    def test_list_commas_are_not_thousands(self):
        assert passed(numeric("1, 2, 3", 3))

    def test_absolute_and_relative_tolerance(self):
        assert not passed(numeric("3.14", 3.14159))
        assert passed(numeric("3.14", 3.14159, abs_tol=0.01))
        assert passed(numeric("1010", 1000, rel_tol=0.01))
        assert not passed(numeric("1011", 1000, rel_tol=0.01))

    def test_no_number(self):
        result = numeric("I don't know.", 4)
        assert not passed(result)
        assert "no number" in result.detail


class TestChoice:
    @pytest.mark.parametrize(
        "output",
        [
            "B",
            "b",
            "(B)",
            "B)",
            "B.",
            "The answer is B.",
            "Answer: (B)",
            "B) Paris",
            "**B**",
            "I pick B here",
        ],
    )
    def test_commitments_to_b(self, output):
        assert passed(choice(output, "B"))

    def test_wrong_choice(self):
        result = choice("The answer is C.", "B")
        assert not passed(result)
        assert result.detail == "chose C"

    def test_several_choices_named_is_no_choice(self):
        assert not passed(choice("Either A or B", "B"))

    def test_the_article_a_is_not_choice_a(self):
        assert passed(choice("It is a city: B", "B"))

    def test_custom_choices(self):
        assert passed(choice("yes", "Yes", choices=["Yes", "No"]))
        assert not passed(choice("I don't know.", "Yes", choices=["Yes", "No"]))


class TestSpecs:
    def test_name_or_object(self):
        assert parse_scorer_spec("exact") == ScorerSpec("exact", {})
        assert parse_scorer_spec({"type": "numeric", "abs_tol": 0.5}) == ScorerSpec(
            "numeric", {"abs_tol": 0.5}
        )

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ("exactt", "unknown scorer 'exactt'"),
            ({"kind": "exact"}, "scorer must be"),
            ({"type": "exact", "casefold": True}, "has no option 'casefold'"),
            ({"type": "exact", "ignore_case": "yes"}, "wrong type"),
            ({"type": "numeric", "abs_tol": True}, "wrong type"),
            ({"type": "numeric", "extract": "middle"}, "must be one of"),
            ({"type": "contains", "require": "some"}, "must be one of"),
        ],
    )
    def test_bad_specs(self, raw, message):
        with pytest.raises(ValueError, match=message):
            parse_scorer_spec(raw)

    @pytest.mark.parametrize(
        ("spec", "expected", "message"),
        [
            ("exact", 4, "string"),
            ("regex", "([", "regular expression"),
            ("numeric", "4", "finite number"),
            ("numeric", True, "finite number"),
            ("choice", "E", "one of the choices"),
            ("json_schema", {"type": "object", "oneOf": []}, "should be non-empty"),  # invalid in every draft
        ],
    )
    def test_bad_expected(self, spec, expected, message):
        with pytest.raises(ValueError, match=message):
            check_expected(parse_scorer_spec(spec), expected)

    def test_apply_uses_the_options(self):
        spec = parse_scorer_spec({"type": "exact", "ignore_case": False})
        assert apply(spec, "paris", "Paris").outcome is Outcome.FAIL

    def test_apply_refuses_the_judge(self):
        with pytest.raises(ValueError, match="needs a model"):
            apply(parse_scorer_spec("judge"), "x", None)
