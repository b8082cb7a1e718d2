"""HTTP endpoints of the notifications service: schemas in, service call, schemas out."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from services.notifications import schemas as sc
from services.notifications import service as svc
from shared.audit import audit_blueprint
from shared.auth import HR_ADMIN, SERVICE, authenticate, require
from shared.http import db, if_match, page_of, with_etag
from shared.idempotency import idempotent

HR = (HR_ADMIN, SERVICE)

inbox = Blueprint("inbox", __name__, url_prefix="/api/v1/inbox",
                  description="Your own notices: managers, HR admins and appraisers alike")
notices = Blueprint("notices", __name__, url_prefix="/api/v1/notices",
                    description="Every notice sent, with its deliveries (HR)")
deliveries = Blueprint("deliveries", __name__, url_prefix="/api/v1/deliveries",
                       description="Resending a delivery by hand (HR)")
recipients = Blueprint("recipients", __name__, url_prefix="/api/v1/recipients",
                       description="Who receives notices, and on which channels")
webhooks = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks",
                     description="Signed JSON receivers per person or org unit (HR)")
templates = Blueprint("templates", __name__, url_prefix="/api/v1/templates",
                      description="Notice templates per kind and language (zh, en)")
BLUEPRINTS = (inbox, notices, deliveries, recipients, webhooks, templates,
              audit_blueprint(svc.audit_units))










# --- inbox ------------------------------------------------------------------------------------

def inbox_item_out(item: Any, event_type: str, event_id: str) -> dict[str, Any]:
    out = {c: getattr(item, c) for c in ("id", "notice_id", "kind", "subject", "text",
                                         "created_at", "read_at")}
    out.update(event_type=event_type, event_id=event_id, read=item.read_at is not None)
    return out


@inbox.route("")
class Inbox(MethodView):
    @require()
    @inbox.arguments(sc.InboxQuery, location="query")
    @inbox.response(200, sc.InboxPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Your notices, newest first (`unread=true` for the unread ones only)."""
        page = svc.list_inbox(db(), authenticate(), query)
        return page_of(page, query, [inbox_item_out(*row) for row in page.items])


@inbox.route("/unread-count")
class InboxUnread(MethodView):
    @require()
    @inbox.response(200, sc.UnreadOut)
    def get(self) -> Any:
        principal = authenticate()
        return {"recipient_id": svc.inbox_owner(principal),
                "unread": svc.unread_count(db(), principal)}


@inbox.route("/<item_id>/read")
class InboxRead(MethodView):
    @require()
    @inbox.response(200, sc.InboxItemOut)
    def post(self, item_id: str) -> Any:
        """Mark one of your notices read; marking it again keeps the first time."""
        return inbox_item_out(*svc.mark_read(db(), authenticate(), item_id))


# --- notices and deliveries -------------------------------------------------------------------

@notices.route("")
class Notices(MethodView):
    @require(*HR)
    @notices.arguments(sc.NoticeQuery, location="query")
    @notices.response(200, sc.NoticePage)
    def get(self, query: dict[str, Any]) -> Any:
        """Notices in your scope, by recipient, event, kind and delivery state."""
        page = svc.list_notices(db(), authenticate(), query)
        return page_of(page, query, list(page.items))


@notices.route("/<notice_id>")
class NoticeOne(MethodView):
    @require(*HR)
    @notices.response(200, sc.NoticeOut)
    def get(self, notice_id: str) -> Any:
        """One notice, what its recipient read, and every delivery with its history."""
        return svc.get_notice(db(), authenticate(), notice_id)


@deliveries.route("/<delivery_id>/resend")
class DeliveryResend(MethodView):
    @require(*HR)
    @deliveries.arguments(sc.ResendIn)
    @deliveries.response(200, sc.DeliveryOut)
    def post(self, data: dict[str, Any], delivery_id: str) -> Any:
        """Queue a sent, failed or given-up delivery again; the reason is kept in its history."""
        return svc.resend_delivery(db(), authenticate(), delivery_id, data["reason"])


# --- recipients -------------------------------------------------------------------------------

@recipients.route("")
class Recipients(MethodView):
    @require(*HR)
    @recipients.arguments(sc.RecipientQuery, location="query")
    @recipients.response(200, sc.RecipientPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Managers (known from events) and registered HR admins and appraisers."""
        page = svc.list_recipients(db(), authenticate(), query)
        return page_of(page, query, list(page.items))

    @idempotent
    @require(*HR)
    @recipients.arguments(sc.RecipientIn)
    @recipients.response(201, sc.RecipientOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Register an HR admin (notices for their org scope), an appraiser or a manager."""
        row = svc.register_recipient(db(), authenticate(), data)
        return with_etag(row, row.row_version, 201, f"/api/v1/recipients/{row.id}")


@recipients.route("/<person_id>")
class RecipientOne(MethodView):
    @require(*HR)
    @recipients.response(200, sc.RecipientOut)
    def get(self, person_id: str) -> Any:
        row = svc.get_recipient(db(), authenticate(), person_id)
        return with_etag(row, row.row_version)

    @require(*HR)
    @recipients.arguments(sc.RecipientPatch)
    @recipients.response(200, sc.RecipientOut)
    def patch(self, changes: dict[str, Any], person_id: str) -> Any:
        """Change contact, language, scope or deactivate; needs If-Match."""
        row = svc.update_recipient(db(), authenticate(), person_id, changes, if_match(True))
        return with_etag(row, row.row_version)


@recipients.route("/<person_id>/preferences")
class Preferences(MethodView):
    @require()
    @recipients.response(200, sc.PreferencesOut)
    def get(self, person_id: str) -> Any:
        """HR for anyone in scope; anyone else for themselves."""
        return svc.get_preferences(db(), authenticate(), person_id)

    @require()
    @recipients.arguments(sc.PreferencesIn)
    @recipients.response(200, sc.PreferencesOut)
    def put(self, data: dict[str, Any], person_id: str) -> Any:
        """Opt in or out of e-mail and webhook; the inbox always receives."""
        return svc.set_preferences(db(), authenticate(), person_id, data)


# --- webhooks ---------------------------------------------------------------------------------

@webhooks.route("")
class Webhooks(MethodView):
    @require(*HR)
    @webhooks.response(200, sc.WebhookOut(many=True))
    def get(self) -> Any:
        return svc.list_webhooks(db(), authenticate())

    @idempotent
    @require(*HR)
    @webhooks.arguments(sc.WebhookIn)
    @webhooks.response(201, sc.WebhookCreatedOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Register a receiver for a person, or for an org unit and the units below it.

        Every POST is signed with the secret; README.md ("Notifications: the rules",
        section 7) says how a receiver verifies it."""
        row, secret = svc.create_webhook(
            db(), authenticate(), data,
            allowed_hosts=current_app.extensions["notifications_config"].webhook_allowed_hosts)
        out = {c: getattr(row, c) for c in ("id", "recipient_id", "org_unit_id", "url",
                                            "created_by", "created_at")}
        return out | {"secret": secret}, 201, {"Location": f"/api/v1/webhooks/{row.id}"}


@webhooks.route("/<webhook_id>")
class WebhookOne(MethodView):
    @require(*HR)
    @webhooks.response(204)
    def delete(self, webhook_id: str) -> Any:
        svc.delete_webhook(db(), authenticate(), webhook_id)
        return None


# --- templates --------------------------------------------------------------------------------

@templates.route("")
class Templates(MethodView):
    @require(*HR)
    @templates.response(200, sc.TemplateOut(many=True))
    def get(self) -> Any:
        """Every kind in every language: HR's version where there is one, else built-in."""
        return svc.list_templates(db())


@templates.route("/<kind>/<language>")
class TemplateOne(MethodView):
    @require(*HR)
    @templates.response(200, sc.TemplateOut)
    def get(self, kind: str, language: str) -> Any:
        """The template in force, the variables it may use, and where it comes from."""
        out = svc.get_template(db(), kind, language)
        return with_etag(out, out["row_version"])

    @require(*HR)
    @templates.arguments(sc.TemplateIn)
    @templates.response(200, sc.TemplateOut)
    def put(self, data: dict[str, Any], kind: str, language: str) -> Any:
        """Store HR's version once it validates; a broken one is refused with 422 naming
        the field (subject, body, html) and the line. If-Match is checked when sent."""
        out = svc.put_template(db(), authenticate(), kind, language, data, if_match(False))
        return with_etag(out, out["row_version"])

    @require(*HR)
    @templates.response(204)
    def delete(self, kind: str, language: str) -> Any:
        """Go back to the built-in template."""
        svc.delete_template(db(), authenticate(), kind, language)
        return None


@templates.route("/<kind>/<language>/preview")
class TemplatePreview(MethodView):
    @require(*HR)
    @templates.arguments(sc.PreviewIn)
    @templates.response(200, sc.PreviewOut)
    def post(self, data: dict[str, Any], kind: str, language: str) -> Any:
        """Render given sources (or the template in force) against the kind's sample, with an
        optional context laid over it."""
        return svc.preview_template(db(), kind, language, data)
