"""The notifications API over real databases: inboxes, notices, recipients, webhooks, templates."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.notifications import create_app
from services.notifications.domain import NoticeKind
from shared.db import Database
from tests.conftest import auth, service_settings
from tests.support.contracts_world import Client

from . import world
from .servers import free_port
from .world import EAST, PLANT, SMITH, WEST, ZHANG


def as_manager(api: Client, manager_id: str) -> Client:
    return api.as_(auth("manager", subject=f"user-{manager_id[-4:]}", manager_id=manager_id))


def published_for_both(db: Database) -> None:
    world.apply(db, world.appraisal_published(ZHANG, grade="C", score="58.40"))
    world.apply(db, world.appraisal_published(SMITH, grade="A", score="95.00"))


# --- auth ---------------------------------------------------------------------------------------

def test_no_token_is_401_problem_json(hr: Client) -> None:
    resp = hr.as_({}).get("/api/v1/inbox", expect=401)
    assert resp.mimetype == "application/problem+json"
    assert "Bearer" in resp.headers["WWW-Authenticate"]


def test_a_manager_cannot_use_the_hr_endpoints(hr: Client) -> None:
    manager = as_manager(hr, ZHANG)
    for path in ("/api/v1/notices", "/api/v1/recipients", "/api/v1/webhooks",
                 "/api/v1/templates/appraisal_result/zh"):
        assert manager.get(path, expect=403).mimetype == "application/problem+json"


# --- inbox --------------------------------------------------------------------------------------

def test_each_manager_reads_only_their_own_inbox(db: Database, group: Client) -> None:
    published_for_both(db)
    zhang, smith = as_manager(group, ZHANG), as_manager(group, SMITH)
    (mine,) = zhang.get("/api/v1/inbox").get_json()["items"]
    (theirs,) = smith.get("/api/v1/inbox").get_json()["items"]
    assert mine["kind"] == theirs["kind"] == "appraisal_result"
    assert "C" in mine["subject"] and "张伟" in mine["text"]
    assert theirs["subject"].startswith("[Tenure]") and "John Smith" in theirs["text"]
    # Someone else's item does not exist for you, whether reading or marking it.
    smith.post(f"/api/v1/inbox/{mine['id']}/read", expect=404)
    assert zhang.get("/api/v1/inbox/unread-count").get_json() == {
        "recipient_id": ZHANG, "unread": 1}


def test_a_manager_token_without_a_manager_id_reads_no_inbox(group: Client) -> None:
    group.as_(auth("manager", subject=ZHANG)).get("/api/v1/inbox", expect=403)


def test_marking_read_counts_down_and_keeps_the_first_reading_time(
        db: Database, group: Client) -> None:
    published_for_both(db)
    world.apply(db, world.contract_issued(ZHANG, PLANT, "张伟", "zhang.wei@example.com"))
    zhang = as_manager(group, ZHANG)
    items = zhang.get("/api/v1/inbox").get_json()["items"]
    assert sorted(i["kind"] for i in items) == ["appraisal_result", "contract_to_sign"]
    first = zhang.post(f"/api/v1/inbox/{items[0]['id']}/read", expect=200).get_json()
    again = zhang.post(f"/api/v1/inbox/{items[0]['id']}/read", expect=200).get_json()
    assert first["read"] and first["read_at"] == again["read_at"]
    assert zhang.get("/api/v1/inbox/unread-count").get_json()["unread"] == 1
    unread = zhang.get("/api/v1/inbox?unread=true").get_json()
    assert [i["id"] for i in unread["items"]] == [items[1]["id"]]
    assert unread["page"] == {"page": 1, "page_size": 50, "total": 1, "pages": 1}


def test_an_hr_admin_reads_their_own_inbox_by_token_subject(
        db: Database, group: Client) -> None:
    published_for_both(db)
    east = group.as_(auth("hr_admin", subject="hr-east", org_scope=EAST))
    kinds = [i["kind"] for i in east.get("/api/v1/inbox").get_json()["items"]]
    assert kinds == ["appraisal_published_hr"]  # Zhang's unit only: Smith is in the west


# --- notices and deliveries ---------------------------------------------------------------------

def test_hr_lists_notices_by_recipient_and_event_type_within_scope(
        db: Database, group: Client) -> None:
    published_for_both(db)
    everything = group.get("/api/v1/notices").get_json()
    assert everything["page"]["total"] == 6
    mine = group.get(f"/api/v1/notices?recipient_id={ZHANG}").get_json()["items"]
    assert [(n["kind"], n["deliveries"]) for n in mine] == [
        ("appraisal_result", [{"channel": "email", "state": "queued"}])]
    assert group.get("/api/v1/notices?state=sent").get_json()["page"]["total"] == 0
    assert group.get("/api/v1/notices?event_type=contract.issued").get_json()["items"] == []
    west = group.as_(auth("hr_admin", subject="hr-west", org_scope=WEST))
    seen = {n["manager_id"] for n in west.get("/api/v1/notices").get_json()["items"]}
    assert seen == {SMITH}
    zhang_notice = mine[0]["id"]
    west.get(f"/api/v1/notices/{zhang_notice}", expect=404)
    detail = group.get(f"/api/v1/notices/{zhang_notice}").get_json()
    assert detail["inbox"]["read_at"] is None and detail["context"]["grade"] == "C"
    (delivery,) = detail["deliveries"]
    assert delivery["history"][0]["action"] == "queued"


def test_a_queued_delivery_cannot_be_resent_and_an_unknown_one_is_404(
        db: Database, group: Client) -> None:
    published_for_both(db)
    notice = group.get(f"/api/v1/notices?recipient_id={ZHANG}").get_json()["items"][0]
    detail = group.get(f"/api/v1/notices/{notice['id']}").get_json()
    delivery_id = detail["deliveries"][0]["id"]
    resp = group.post(f"/api/v1/deliveries/{delivery_id}/resend", {"reason": "try again"},
                      expect=409)
    assert resp.get_json()["errors"] == {"state": ["the delivery is queued"]}
    group.post("/api/v1/deliveries/nope/resend", {"reason": "try again"}, expect=404)


# --- recipients, preferences, webhooks ----------------------------------------------------------

def test_registering_a_recipient_twice_conflicts_and_bad_fields_are_named(
        group: Client) -> None:
    body = {"id": "appraiser-1", "role": "appraiser", "name": "Li Na", "language": "en-GB",
            "email": "li.na@example.com", "org_scope": EAST}
    created = group.post("/api/v1/recipients", body, expect=201)
    assert created.headers["Location"] == "/api/v1/recipients/appraiser-1"
    assert created.get_json()["language"] == "en"
    group.post("/api/v1/recipients", body, expect=409)
    bad = group.post("/api/v1/recipients", {**body, "id": "x", "language": "fr",
                                            "email": "not-an-address"}, expect=422)
    assert set(bad.get_json()["errors"]) == {"language", "email"}
    # An id travels in URLs and the Location header: a control character in it is refused.
    broken = group.post("/api/v1/recipients", {**body, "id": "\r"}, expect=422)
    assert set(broken.get_json()["errors"]) == {"id"}


def test_a_scoped_hr_admin_registers_only_within_their_scope(group: Client) -> None:
    east = group.as_(auth("hr_admin", subject="hr-east", org_scope=EAST))
    east.post("/api/v1/recipients", {"id": "hr-plant", "role": "hr_admin", "name": "P",
                                     "org_scope": PLANT}, expect=201)
    east.post("/api/v1/recipients", {"id": "hr-w2", "role": "hr_admin", "name": "W",
                                     "org_scope": WEST}, expect=403)
    east.post("/api/v1/recipients", {"id": "hr-all", "role": "hr_admin", "name": "G"},
              expect=403)
    listed = {r["id"] for r in east.get("/api/v1/recipients").get_json()["items"]}
    assert ZHANG in listed and "hr-plant" in listed and SMITH not in listed


def test_a_recipient_change_needs_the_etag_it_read(group: Client) -> None:
    resp = group.get("/api/v1/recipients/hr-east")
    etag = resp.headers["ETag"]
    group.patch("/api/v1/recipients/hr-east", {"email": "wf@example.com"}, expect=428)
    changed = group.patch("/api/v1/recipients/hr-east", {"email": "wf@example.com"},
                          headers={"If-Match": etag}, expect=200)
    assert changed.get_json()["email"] == "wf@example.com"
    group.patch("/api/v1/recipients/hr-east", {"active": False}, headers={"If-Match": etag},
                expect=412)


def test_a_manager_sets_their_own_preferences_but_nobody_elses(group: Client) -> None:
    zhang = as_manager(group, ZHANG)
    prefs = zhang.put(f"/api/v1/recipients/{ZHANG}/preferences",
                      {"email": False, "webhook": True}, expect=200).get_json()
    assert prefs == {"recipient_id": ZHANG, "inbox": True, "email": False, "webhook": True}
    zhang.put(f"/api/v1/recipients/{SMITH}/preferences", {"email": False, "webhook": True},
              expect=404)
    assert group.get(f"/api/v1/recipients/{ZHANG}/preferences").get_json()["email"] is False
    group.put(f"/api/v1/recipients/{ZHANG}/preferences", {"email": "maybe", "webhook": True},
              expect=422)


def test_a_webhook_secret_is_shown_once_and_one_owner_has_one_webhook(group: Client) -> None:
    created = group.post("/api/v1/webhooks", {"org_unit_id": EAST,
                                              "url": "https://oa.example.com/tenure"},
                         expect=201).get_json()
    assert len(created["secret"]) >= 32
    listed = group.get("/api/v1/webhooks").get_json()
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    group.post("/api/v1/webhooks", {"org_unit_id": EAST, "url": "https://x.example.com/h"},
               expect=409)
    bad = group.post("/api/v1/webhooks", {"url": "ftp://x", "recipient_id": ZHANG},
                     expect=422)
    assert set(bad.get_json()["errors"]) == {"url"}
    both = group.post("/api/v1/webhooks", {"url": "https://x.example.com/h",
                                           "recipient_id": ZHANG, "org_unit_id": EAST},
                      expect=422)
    assert set(both.get_json()["errors"]) == {"recipient_id"}
    group.call("DELETE", f"/api/v1/webhooks/{created['id']}", expect=204)
    assert group.get("/api/v1/webhooks").get_json() == []


# --- templates ----------------------------------------------------------------------------------

def test_a_broken_template_is_refused_naming_the_field_and_the_line(group: Client) -> None:
    resp = group.put("/api/v1/templates/appraisal_result/zh", {
        "subject": "考核结果：{{ grade }}",
        "body": "{{ recipient_name }}：\n\n得分：{{ score }\n"}, expect=422)
    problem = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert (problem["field"], problem["line"]) == ("body", 3)
    assert problem["errors"]["body"][0].startswith("line 3: syntax error")
    unknown = group.put("/api/v1/templates/appraisal_result/en", {
        "subject": "Result {{ grade }}", "body": "Dear {{ recipient_name }},\n{{ bonus }}"},
        expect=422).get_json()
    assert (unknown["field"], unknown["line"]) == ("body", 2)
    assert "unknown variable 'bonus'" in unknown["errors"]["body"][0]
    # Nothing was stored: the built-in template is still in force.
    assert group.get("/api/v1/templates/appraisal_result/zh").get_json()["source"] == "default"


def test_an_override_is_stored_previewed_guarded_by_etag_and_reverted(group: Client) -> None:
    path = "/api/v1/templates/appraisal_result/en"
    default = group.get(path)
    assert default.get_json()["source"] == "default" and "grade" in default.get_json()[
        "variables"]
    body = {"subject": "Your {{ year }} grade: {{ grade }}",
            "body": "Dear {{ recipient_name }},\nscore {{ score }}."}
    stored = group.put(path, body, headers={"If-Match": default.headers["ETag"]}, expect=200)
    assert stored.get_json()["source"] == "override" and stored.headers["ETag"] == '"v1"'
    group.put(path, body, headers={"If-Match": default.headers["ETag"]}, expect=412)
    preview = group.post(f"{path}/preview", {"context": {"grade": "A"}}, expect=200).get_json()
    assert preview["subject"] == "Your 2025 grade: A"
    assert preview["text"].startswith("Dear 张伟,")  # the kind's sample recipient
    draft = group.post(f"{path}/preview", {"subject": "{{ grade_label }}!",
                                           "body": "{{ score }}"}, expect=200).get_json()
    assert (draft["subject"], draft["text"]) == ("basically competent!", "58.40\n")
    assert "grade_label" in default.get_json()["variables"]
    bad = group.post(f"{path}/preview", {"subject": "{{ grade", "body": "x"}, expect=422)
    assert bad.get_json()["field"] == "subject"
    group.call("DELETE", path, expect=204)
    assert group.get(path).get_json()["source"] == "default"


def test_templates_of_unknown_kinds_or_languages_do_not_exist(group: Client) -> None:
    group.get("/api/v1/templates/no_such_kind/zh", expect=404)
    group.get("/api/v1/templates/appraisal_result/fr", expect=404)
    # Every kind, in both languages (20 kinds since the signing notices).
    listed = group.get("/api/v1/templates").get_json()
    assert len(listed) == len(NoticeKind) * 2 >= 20 * 2


def test_only_a_group_wide_hr_admin_changes_templates(group: Client) -> None:
    east = group.as_(auth("hr_admin", subject="hr-east", org_scope=EAST))
    east.put("/api/v1/templates/appraisal_result/zh", {"subject": "x {{ grade }}",
                                                       "body": "y"}, expect=403)


# --- readiness ----------------------------------------------------------------------------------

def test_readiness_reports_the_broker_when_one_is_configured(database_url_factory: Any) -> None:
    settings = service_settings("notifications", database_url_factory("notifications"))
    app = create_app(replace(settings, kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    try:
        checks = app.test_client().get("/readyz").get_json()["checks"]
        assert checks["database"]["ok"]
        assert checks["kafka"]["ok"] is False and "refused" in checks["kafka"]["detail"]
    finally:
        app.extensions["tenure_db"].dispose()
