"""The guard tag is the actor's to change, so a change of it is itself a change the sentry judges. Pure.

With ``SENTRY_GROUP_TAG``, deleting the tag (or overwriting its value)
would take a group out of the sentry's sight: the handler would say "not
guarded", the sweep would never list it again. So a call that removes the
guard tag from a group, or may have, is undone: the tag is put back (with
the guard value; for a key-only scope, the value the call named, else an
empty one), the message says who did it, and the group's rules are judged
at once, so that a rule opened in the moments the tag was gone is caught.
Only the deployment's configuration, or an exempt principal, takes a group
out of guard.

A DeleteTags does not say whether the group had the tag: a delete of the
guard key, or of every tag, on a group that never had it puts the guard on
a group nobody guarded. That errs on the side of guarding, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.change import IndirectChange
from chalicelib.domain.policy import GroupScope


@dataclass(frozen=True)
class TagDecision:
    group_id: str
    # The call took (or may have taken) the group out of the tag's scope: the tag goes back.
    removes_guard: bool
    key: str
    value: str
    reason: str
    # CloudTrail truncated the tags: whether the guard was touched is not known. A CreateTags cannot delete
    # it, so only a value other than the guard's is undone; after a DeleteTags the tag goes back only where
    # the group was known to be guarded, lest the guard land on every group a large call touched.
    uncertain: bool = False
    created: bool = False


def guard_tag_decisions(change: IndirectChange, scope: GroupScope) -> list[TagDecision]:
    """What a CreateTags or DeleteTags did to the guard tag of each group it names; [] if it left it alone."""
    key, want = scope.tag_key, scope.tag_value
    if key is None or change.tags is None:
        return []
    tags = change.tags
    decision: tuple[bool, str, str] | None = None
    if tags.unknown:
        decision = (True, want or "", "CloudTrail truncated the record, so which tags changed is not known")
    elif tags.deletes_every_tag:
        decision = (True, want or "", f"every tag was deleted, the guard tag {key} with them")
    for name, value in tags.tags:
        if name != key:
            continue
        if tags.created and (want is None or value == want):
            decision = (False, value or "", f"the guard tag {key} was set: the group is guarded")
        elif tags.created:
            decision = (
                True,
                want or "",
                f"the guard tag {key} was overwritten with {value!r}; the guard value is {want!r}",
            )
        elif value is None or want is None or value == want:
            shown = key if value is None else f"{key}={value}"
            decision = (True, want if want is not None else (value or ""), f"the guard tag {shown} was deleted")
        # Deleting key=other where the guard is key=want deletes nothing that guards: AWS matches the value.
    if decision is None:
        return []
    removes, value, reason = decision
    return [
        TagDecision(group_id, removes, key, value, reason, uncertain=tags.unknown, created=tags.created)
        for group_id in change.group_ids
    ]
