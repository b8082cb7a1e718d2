"""The notifications API's shapes, in and out: validation, serialisation and docs at once."""

from __future__ import annotations

from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from services.notifications import domain as d
from shared.fields import PageInfo, PageQuery, StrictSchema, UtcDateTime

NAME = validate.Length(min=1, max=200)
# A person's id is a token subject or a manager id: it travels in URLs and headers, so no
# control character (a "\r" in an id once broke the Location header of the answer).
PERSON = validate.And(validate.Length(min=1, max=200),
                      validate.Regexp(r"^[^\x00-\x1f\x7f]+$",
                                      error="must not contain control characters"))
UNIT = validate.Length(min=1, max=36)
ROLES = ("manager", "hr_admin", "appraiser")
STATES = [s.value for s in d.DeliveryState]
KINDS = [k.value for k in d.NoticeKind]




def _fail(message: str) -> None:
    raise ma.ValidationError(message)


class LanguageField(fields.String):
    """zh or en; regional forms are accepted and normalised, anything else is refused."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        value = super()._deserialize(value, attr, data, **kwargs)
        head = value.strip().lower().replace("_", "-").split("-")[0]
        if head not in d.SUPPORTED_LANGUAGES:
            raise ma.ValidationError(f"one of {', '.join(d.SUPPORTED_LANGUAGES)}")
        return head


# --- inbox ------------------------------------------------------------------------------------

class InboxQuery(PageQuery):
    unread = fields.Boolean(load_default=False)
    kind = fields.String(validate=validate.OneOf(KINDS))


class InboxItemOut(ma.Schema):
    id = fields.String()
    notice_id = fields.String()
    kind = fields.String()
    event_type = fields.String()
    event_id = fields.String()
    subject = fields.String()
    text = fields.String()
    created_at = UtcDateTime()
    read_at = UtcDateTime(allow_none=True)
    read = fields.Boolean()


class InboxPage(ma.Schema):
    items = fields.List(fields.Nested(InboxItemOut))
    page = fields.Nested(PageInfo)


class UnreadOut(ma.Schema):
    recipient_id = fields.String()
    unread = fields.Integer()


# --- notices and deliveries -------------------------------------------------------------------

class NoticeQuery(PageQuery):
    recipient_id = fields.String(validate=PERSON)
    event_type = fields.String(validate=validate.Length(max=64))
    event_id = fields.String(validate=validate.Length(max=64))
    kind = fields.String(validate=validate.OneOf(KINDS))
    manager_id = fields.String(validate=UNIT)
    state = fields.String(validate=validate.OneOf(STATES),
                          metadata={"description": "notices with a delivery in this state"})


class DeliveryStateOut(ma.Schema):
    channel = fields.String()
    state = fields.String()


class HistoryOut(ma.Schema):
    at = UtcDateTime()
    action = fields.String()
    attempt = fields.Integer()
    reason = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)


class DeliveryOut(ma.Schema):
    id = fields.String()
    notice_id = fields.String()
    notice_key = fields.String()
    channel = fields.String()
    state = fields.String()
    attempts = fields.Integer()
    generation = fields.Integer()
    next_attempt_at = UtcDateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    sent_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    history = fields.List(fields.Nested(HistoryOut))


class NoticeSummaryOut(ma.Schema):
    id = fields.String()
    notice_key = fields.String()
    kind = fields.String()
    role = fields.String()
    recipient_id = fields.String()
    recipient_name = fields.String()
    language = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    manager_id = fields.String(allow_none=True)
    org_unit_id = fields.String(allow_none=True)
    created_at = UtcDateTime()
    deliveries = fields.List(fields.Nested(DeliveryStateOut))


class NoticePage(ma.Schema):
    items = fields.List(fields.Nested(NoticeSummaryOut))
    page = fields.Nested(PageInfo)


class NoticeInboxOut(ma.Schema):
    id = fields.String()
    subject = fields.String()
    text = fields.String()
    read_at = UtcDateTime(allow_none=True)


class NoticeOut(NoticeSummaryOut):
    recipient_email = fields.String(allow_none=True)
    context = fields.Dict()
    deliveries = fields.List(fields.Nested(DeliveryOut))  # type: ignore[assignment]
    inbox = fields.Nested(NoticeInboxOut, allow_none=True)


class ResendIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=1000))


# --- recipients and preferences ---------------------------------------------------------------

class RecipientIn(StrictSchema):
    id = fields.String(required=True, validate=PERSON, metadata={
        "description": "The person's token subject (HR admins, appraisers) or manager id"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    name = fields.String(required=True, validate=NAME)
    email = fields.Email(load_default=None, allow_none=True)
    language = LanguageField(load_default="zh")
    employee_no = fields.String(validate=validate.Length(max=64), allow_none=True)
    org_unit_id = fields.String(validate=UNIT, allow_none=True,
                                metadata={"description": "A manager's unit"})
    org_scope = fields.String(validate=UNIT, allow_none=True, metadata={
        "description": "Top of an HR admin's or appraiser's subtree; null: the whole group"})
    active = fields.Boolean(load_default=True)

    @validates_schema
    def _unit_for_role(self, data: dict, **kwargs: object) -> None:  # type: ignore[type-arg]
        if data["role"] == "manager" and data.get("org_scope"):
            raise ma.ValidationError("a manager has an org_unit_id, not an org_scope",
                                     "org_scope")
        if data["role"] != "manager" and data.get("org_unit_id"):
            raise ma.ValidationError("HR admins and appraisers have an org_scope",
                                     "org_unit_id")


class RecipientPatch(StrictSchema):
    name = fields.String(validate=NAME)
    email = fields.Email(allow_none=True)
    language = LanguageField()
    employee_no = fields.String(validate=validate.Length(max=64), allow_none=True)
    org_unit_id = fields.String(validate=UNIT, allow_none=True)
    org_scope = fields.String(validate=UNIT, allow_none=True)
    active = fields.Boolean()


class RecipientOut(ma.Schema):
    id = fields.String()
    role = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    language = fields.String()
    employee_no = fields.String(allow_none=True)
    org_unit_id = fields.String(allow_none=True)
    org_scope = fields.String(allow_none=True)
    active = fields.Boolean()
    source = fields.String()
    row_version = fields.Integer()
    updated_at = UtcDateTime()


class RecipientQuery(PageQuery):
    role = fields.String(validate=validate.OneOf(ROLES))
    org_unit_id = fields.String(validate=UNIT)
    q = fields.String(validate=validate.Length(min=1, max=100))


class RecipientPage(ma.Schema):
    items = fields.List(fields.Nested(RecipientOut))
    page = fields.Nested(PageInfo)


class PreferencesIn(StrictSchema):
    email = fields.Boolean(required=True)
    webhook = fields.Boolean(required=True)


class PreferencesOut(ma.Schema):
    recipient_id = fields.String()
    inbox = fields.Boolean(metadata={"description": "Always true: the inbox is not a choice"})
    email = fields.Boolean()
    webhook = fields.Boolean()


# --- webhooks ---------------------------------------------------------------------------------

def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        _fail("an absolute http(s) URL")


class WebhookIn(StrictSchema):
    recipient_id = fields.String(validate=PERSON, allow_none=True)
    org_unit_id = fields.String(validate=UNIT, allow_none=True)
    url = fields.String(required=True, validate=[validate.Length(max=2000), _http_url])
    secret = fields.String(validate=validate.Length(min=16, max=200), metadata={
        "description": "Shared HMAC secret; generated (and shown once) when omitted"})

    @validates_schema
    def _one_owner(self, data: dict, **kwargs: object) -> None:  # type: ignore[type-arg]
        if bool(data.get("recipient_id")) == bool(data.get("org_unit_id")):
            raise ma.ValidationError("give exactly one of recipient_id and org_unit_id",
                                     "recipient_id")


class WebhookOut(ma.Schema):
    id = fields.String()
    recipient_id = fields.String(allow_none=True)
    org_unit_id = fields.String(allow_none=True)
    url = fields.String()
    created_by = fields.String()
    created_at = UtcDateTime()


class WebhookCreatedOut(WebhookOut):
    secret = fields.String(metadata={"description": "Shown in this answer only"})


# --- templates --------------------------------------------------------------------------------

class TemplateIn(StrictSchema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    body = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    html = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=50000))


class TemplateOut(ma.Schema):
    kind = fields.String()
    language = fields.String()
    subject = fields.String()
    body = fields.String()
    html = fields.String(allow_none=True)
    source = fields.String(metadata={"description": "override or default"})
    variables = fields.List(fields.String())
    row_version = fields.Integer()
    updated_by = fields.String(allow_none=True)
    updated_at = UtcDateTime(allow_none=True)


class PreviewIn(StrictSchema):
    subject = fields.String(validate=validate.Length(min=1, max=1000))
    body = fields.String(validate=validate.Length(min=1, max=20000))
    html = fields.String(allow_none=True, validate=validate.Length(max=50000))
    context = fields.Dict(keys=fields.String(), metadata={
        "description": "Variables laid over the kind's sample context"})


class PreviewOut(ma.Schema):
    kind = fields.String()
    language = fields.String()
    subject = fields.String()
    text = fields.String()
    html = fields.String(allow_none=True)
