"""The drift plan and the baseline file: pure, so every case is a few lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.adapters import baseline_file
from chalicelib.domain.baseline import FORMAT, ApprovedGroup, Baseline, BaselineError
from chalicelib.domain.change import Actor
from chalicelib.domain.drift import NO_ACTOR, Fix, back_to_baseline, plan
from chalicelib.domain.policy import Mode, Policy, decide
from chalicelib.domain.rules import Direction, Rule, Source, SourceKind

GROUP = "sg-0a1b2c3d4e5f60718"


def tcp(port: int, cidr: str, rule_id: str | None = None, description: str | None = None) -> Rule:
    kind = SourceKind.CIDR_IPV6 if ":" in cidr else SourceKind.CIDR_IPV4
    return Rule.build(Direction.INGRESS, "tcp", port, port, Source(kind, cidr), description, rule_id)


HTTPS = tcp(443, "10.0.0.0/8", "sgr-1", "internal https")
SSH = tcp(22, "10.1.0.0/16", "sgr-2")
EGRESS = Rule.build(Direction.EGRESS, "-1", None, None, Source(SourceKind.CIDR_IPV4, "0.0.0.0/0"), rule_id="sgr-3")
APPROVED = (HTTPS, SSH, EGRESS)


def fixes(steps: tuple[object, ...] | None) -> list[tuple[str, str]]:
    assert steps is not None
    return [(step.fix.value, str(step.rule)) for step in steps]  # type: ignore[attr-defined]


def test_a_group_that_matches_its_baseline_needs_nothing() -> None:
    # New IDs and other descriptions do not matter: rules are compared as AWS compares them.
    present = [tcp(443, "10.0.0.0/8", "sgr-9", "edited"), tcp(22, "10.1.0.0/16", "sgr-8"), EGRESS]
    assert back_to_baseline(present, APPROVED) == ()


def test_unapproved_rules_are_revoked_and_missing_approved_ones_restored() -> None:
    present = [HTTPS, tcp(22, "0.0.0.0/0", "sgr-7")]
    assert fixes(back_to_baseline(present, APPROVED)) == [
        ("revoke", "tcp 22 from 0.0.0.0/0, ingress"),
        ("restore", "tcp 22 from 10.1.0.0/16, ingress"),
        ("restore", "all traffic to 0.0.0.0/0, egress"),
    ]


def test_a_rule_modified_in_place_is_redefined_back_keeping_its_id() -> None:
    modified = tcp(2222, "0.0.0.0/0", "sgr-2")
    (step,) = back_to_baseline([HTTPS, modified, EGRESS], APPROVED)
    assert step.fix is Fix.REDEFINE and step.rule.rule_id == "sgr-2" and step.approved == SSH


def test_a_source_of_another_kind_cannot_be_redefined_so_it_is_revoked_and_restored() -> None:
    # AWS does not turn an IPv4 rule into an IPv6 one in place.
    modified = tcp(22, "::/0", "sgr-2")
    assert fixes(back_to_baseline([HTTPS, modified, EGRESS], APPROVED)) == [
        ("revoke", "tcp 22 from ::/0, ingress"),
        ("restore", "tcp 22 from 10.1.0.0/16, ingress"),
    ]


def test_a_baseline_with_no_rules_revokes_everything() -> None:
    assert [s.fix for s in back_to_baseline([HTTPS, EGRESS], ())] == [Fix.REVOKE, Fix.REVOKE]


def test_lockdown_without_a_baseline_is_judged_by_exposure_only() -> None:
    # Without a baseline, no rule can be told from drift; what opens the group to the internet can.
    (step,) = plan([HTTPS, tcp(22, "0.0.0.0/0"), tcp(443, "0.0.0.0/0")], Policy(Mode.LOCKDOWN), None)
    assert (step.fix, str(step.rule)) == (Fix.REVOKE, "tcp 22 from 0.0.0.0/0, ingress")
    assert step.reason.startswith("lockdown mode without a baseline: only what opens the group to the internet")


def test_internet_mode_sweeps_with_the_event_policy_and_ignores_the_baseline() -> None:
    entry = ApprovedGroup(GROUP, "eu-west-1", "web", (tcp(22, "0.0.0.0/0"),))
    present = [tcp(22, "0.0.0.0/0"), tcp(443, "0.0.0.0/0"), tcp(22, "10.0.0.0/8")]
    assert fixes(plan(present, Policy(Mode.INTERNET), entry)) == [("revoke", "tcp 22 from 0.0.0.0/0, ingress")]


def test_no_exemption_can_match_the_sweeps_actor() -> None:
    policy = Policy(Mode.INTERNET, exempt_principals=("arn:*",))
    assert NO_ACTOR.principal_arns == ()
    assert decide(tcp(22, "0.0.0.0/0"), NO_ACTOR, policy).revert


def test_in_lockdown_a_baseline_allows_exactly_its_rules() -> None:
    person = Actor("IAMUser", arn="arn:aws:iam::123456789012:user/alice")
    approved = frozenset(APPROVED)
    assert not decide(tcp(443, "10.0.0.0/8"), person, Policy(), approved).revert
    assert decide(tcp(443, "10.0.0.0/9"), person, Policy(), approved).revert
    assert decide(tcp(443, "10.0.0.0/8"), person, Policy(), None).revert  # without one, every change


# --- the file ------------------------------------------------------------------


def test_the_baseline_file_round_trips_and_sorts_for_review(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    original = Baseline().with_groups([ApprovedGroup(GROUP, "eu-west-1", "web", (SSH, EGRESS, HTTPS))], "now")
    baseline_file.save(original, path)
    loaded = baseline_file.load(path)
    entry = loaded.for_group(GROUP, "eu-west-1")
    assert entry is not None and entry.approved == frozenset(APPROVED)
    assert {rule.description for rule in entry.rules} == {"internal https", None}
    document = json.loads(path.read_text())
    assert [rule["direction"] for rule in document["groups"][GROUP]["rules"]] == ["egress", "ingress", "ingress"]
    assert loaded.for_group(GROUP, "us-east-1") is None  # IDs are per region


def test_a_snapshot_of_some_groups_keeps_the_others(tmp_path: Path) -> None:
    other = ApprovedGroup("sg-11111111", "eu-west-1", None, (HTTPS,))
    first = Baseline().with_groups([other, ApprovedGroup(GROUP, "eu-west-1", "web", (SSH,))], "t1")
    second = first.with_groups([ApprovedGroup(GROUP, "eu-west-1", "web", ())], "t2")
    assert second.groups["sg-11111111"] == other and second.groups[GROUP].rules == ()


def test_no_file_means_no_baseline(tmp_path: Path) -> None:
    assert baseline_file.load(tmp_path / "absent.json").groups == {}


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"groups": {}}, "not a baseline"),
        ({"format": FORMAT, "groups": []}, "'groups' must be an object"),
        ({"format": FORMAT, "groups": {"web": {}}}, "not a security group ID"),
        ({"format": FORMAT, "groups": {GROUP: {"region": "moon-1", "rules": []}}}, "not an AWS region"),
        ({"format": FORMAT, "groups": {GROUP: {"region": "eu-west-1"}}}, "'rules' must be a list"),
        (
            {
                "format": FORMAT,
                "groups": {GROUP: {"region": "eu-west-1", "rules": [{"direction": "sideways"}]}},
            },
            "rule 1: 'sideways' is not a valid Direction",
        ),
        (
            {
                "format": FORMAT,
                "groups": {
                    GROUP: {
                        "region": "eu-west-1",
                        "rules": [
                            {"direction": "ingress", "protocol": "tcp", "from_port": 22, "source_kind": "cidr-ipv4"}
                        ],
                    }
                },
            },
            "rule 1: missing 'source'",
        ),
    ],
)
def test_a_malformed_baseline_is_refused_with_where_and_why(
    tmp_path: Path, document: dict[str, object], complaint: str
) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(document))
    with pytest.raises(BaselineError, match=complaint) as raised:
        baseline_file.load(path)
    assert str(path) in str(raised.value)


def test_a_rule_listed_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    baseline_file.save(Baseline().with_groups([ApprovedGroup(GROUP, "eu-west-1", None, (SSH,))], "t"), path)
    document = json.loads(path.read_text())
    document["groups"][GROUP]["rules"] *= 2
    path.write_text(json.dumps(document))
    with pytest.raises(BaselineError, match="listed twice"):
        baseline_file.load(path)


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    baseline_file.save(Baseline().with_groups([ApprovedGroup(GROUP, "eu-west-1", None, (SSH,))], "t"), path)
    assert len(baseline_file.load(path).groups) == 1
    baseline_file.save(Baseline(), path)
    assert baseline_file.load(path).groups == {}


def test_a_snapshot_of_the_same_rules_in_another_order_writes_the_same_file(tmp_path: Path) -> None:
    rules = (tcp(80, "10.0.0.0/8"), tcp(443, "10.0.0.0/8"), tcp(443, "::/0"), tcp(22, "10.1.0.0/16"), EGRESS)
    texts = []
    for order in (rules, tuple(reversed(rules))):
        path = tmp_path / f"{len(texts)}.json"
        baseline_file.save(Baseline().with_groups([ApprovedGroup(GROUP, "eu-west-1", "web", order)], "t"), path)
        texts.append(path.read_text())
    assert texts[0] == texts[1]
    ports = [rule.get("from_port") for rule in json.loads(texts[0])["groups"][GROUP]["rules"]]
    assert ports == [None, 22, 80, 443, 443]  # as numbers: as text "443" would come before "80"
