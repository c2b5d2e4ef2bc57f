"""kubectl's rollout status and undo semantics, as pure functions."""

from __future__ import annotations

import pytest
from cockpit.providers.kubernetes import rollout as ro

from cockpit.errors import ProviderError


def dep(generation=2, observed=2, replicas=2, updated=2, total=2, available=2, reason=None,
        paused=False):
    status = {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
              "availableReplicas": available}
    if reason:
        status["conditions"] = [{"type": "Progressing", "status": "False", "reason": reason}]
    return {"metadata": {"name": "web", "generation": generation, "uid": "d1",
                         "annotations": {ro.REVISION: "3", "kubernetes.io/change-cause": "now",
                                         "team": "x"}},
            "spec": {"replicas": replicas, "paused": paused,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": template("v3")},
            "status": {k: v for k, v in status.items() if v}}


def template(image, hash_="h"):
    return {"metadata": {"labels": {"app": "web", "pod-template-hash": hash_}},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def rs(rev, image, owner="d1", cause=None):
    ann = {ro.REVISION: str(rev)}
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    return {"metadata": {"name": f"web-{rev}", "annotations": ann,
                         "ownerReferences": [{"uid": owner, "controller": True}]},
            "spec": {"template": template(image, f"h{rev}")}}


@pytest.mark.parametrize(("kwargs", "state", "words"), [
    ({"observed": 1}, "waiting", "spec update to be observed"),
    ({"reason": "ProgressDeadlineExceeded"}, "failed", "exceeded its progress deadline"),
    ({"updated": 1}, "waiting", "1 out of 2 new replicas"),
    ({"total": 3}, "waiting", "1 old replicas are pending termination"),
    ({"available": 1}, "waiting", "1 of 2 updated replicas are available"),
    ({}, "done", "successfully rolled out"),
    ({"updated": 0, "total": 0, "available": 0, "replicas": 0}, "done", "rolled out"),
])
def test_rollout_status_follows_kubectl(kwargs, state, words):
    status = ro.rollout_status(dep(**kwargs))
    assert status.state == state
    assert words in status.message


def test_missing_counts_are_zero_not_errors():
    d = dep()
    d["status"] = {"observedGeneration": 2}
    assert ro.rollout_status(d).state == "waiting"


def test_undo_without_revision_picks_the_second_highest():
    rss = [rs(1, "v1", cause="one"), rs(2, "v2", cause="two"), rs(3, "v3"),
           rs(9, "v9", owner="other")]
    patch, target = ro.undo_patch(dep(), rss)
    assert target["metadata"]["name"] == "web-2"
    assert patch[0] == {"op": "replace", "path": "/spec/template",
                        "value": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "v2"}]}}}
    ann = patch[1]["value"]
    assert ann[ro.REVISION] == "3"  # the Deployment's own value is kept
    assert ann["kubernetes.io/change-cause"] == "two"  # the rest comes from the ReplicaSet
    assert "team" not in ann


def test_undo_to_a_chosen_revision_and_unknown_revision():
    rss = [rs(1, "v1"), rs(2, "v2"), rs(3, "v3")]
    _, target = ro.undo_patch(dep(), rss, to_revision=1)
    assert target["metadata"]["name"] == "web-1"
    with pytest.raises(ProviderError, match="unable to find specified revision 7"):
        ro.undo_patch(dep(), rss, to_revision=7)


def test_undo_refuses_a_paused_deployment():
    with pytest.raises(ProviderError, match="paused"):
        ro.undo_patch(dep(paused=True), [rs(2, "v2"), rs(3, "v3")])


def test_undo_to_the_running_template_is_skipped():
    patch, target = ro.undo_patch(dep(), [rs(2, "v3"), rs(3, "v3")], to_revision=2)
    assert patch is None and target["metadata"]["name"] == "web-2"


def test_undo_overrides_the_change_cause_when_asked():
    patch, _ = ro.undo_patch(dep(), [rs(2, "v2"), rs(3, "v3")], change_cause="auto: boom")
    assert patch[1]["value"]["kubernetes.io/change-cause"] == "auto: boom"


def test_gate_bookkeeping_on_replicasets_never_reaches_the_deployment():
    old = rs(2, "v2")
    old["metadata"]["annotations"]["cockpit.dev/gate"] = "passed"
    patch, _ = ro.undo_patch(dep(), [old, rs(3, "v3")])
    assert "cockpit.dev/gate" not in patch[1]["value"]


def test_selector_with_match_expressions():
    d = dep()
    d["spec"]["selector"]["matchExpressions"] = [
        {"key": "tier", "operator": "In", "values": ["a", "b"]},
        {"key": "old", "operator": "DoesNotExist"}]
    assert ro.label_selector(d) == "app=web,tier in (a,b),!old"


def test_pod_problems_name_crash_loops_and_restarts():
    pods = [
        {"metadata": {"name": "p1"}, "status": {"containerStatuses": [{
            "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}},
        {"metadata": {"name": "p2"}, "status": {"containerStatuses": [{
            "restartCount": 1, "state": {"running": {}}}]}},
        {"metadata": {"name": "p3"}, "status": {"containerStatuses": [{
            "restartCount": 0, "state": {"running": {}}}]}},
    ]
    problems = ro.pod_problems(pods)
    assert problems == ["pod p1: CrashLoopBackOff: last exit code 1 (Error)",
                        "pod p2: restarted 1 time(s)"]
    assert ro.pod_problems(pods[1:], max_restarts=1) == []
